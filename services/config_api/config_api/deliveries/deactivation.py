"""Carrying out automatic deactivations decided on ingest, and the periodic "failing too long" check.

A decision is first stored as ``webhook_delivery_health.pending_deactivation`` (in the ingest
transaction). :func:`carry_out_deactivations` then, in one transaction, deactivates the webhook
through the repository (row + outbox + audit, so the change reaches ``webhooks.config``), clears
the decision, resets the counters and, when the webhook really changed, records a pending
announcement. The ``webhook_deactivated.v1`` event is published on ``webhooks.ops`` from that
record and the record cleared afterwards: one event per deactivation (two only if the process
dies between the publish and the clear), and none for a webhook that was already inactive.
"""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaProducer

from config_api.deliveries.announcements import publish_pending
from config_api.deliveries.health import Thresholds, failing_too_long
from config_api.deliveries.store import health_from_row
from config_api.metrics import WEBHOOKS_AUTO_DEACTIVATED
from config_api.webhooks import access as webhooks
from contracts.base import utcnow
from contracts.events import WebhookDeactivatedV1

logger = logging.getLogger(__name__)

ACTOR = "system:auto-deactivation"

_SETTLE = """
UPDATE webhook_delivery_health
SET pending_deactivation = NULL, consecutive_failures = 0, last_failed_delivery = NULL, failing_since = NULL,
    pending_announcement = CASE WHEN $3 THEN $2 ELSE pending_announcement END, updated_at = now()
WHERE webhook_id = $1 AND pending_deactivation = $2
"""


async def carry_out_deactivations(
    pool: asyncpg.Pool, producer: AIOKafkaProducer | None, ops_topic: str
) -> int:
    """Deactivate every webhook with a pending decision and announce it; returns how many changed now.

    Raises KafkaError when an announcement cannot be published (it stays pending).
    """
    done = 0
    rows = await pool.fetch(
        "SELECT webhook_id, integration_id, pending_deactivation FROM webhook_delivery_health "
        "WHERE pending_deactivation IS NOT NULL ORDER BY webhook_id"
    )
    for row in rows:
        webhook_id: str = row["webhook_id"]
        reason: str = row["pending_deactivation"]
        async with pool.acquire() as conn, conn.transaction():
            # The repository's own transaction becomes a savepoint of this one.
            changed = await webhooks.deactivate_webhook(conn, webhook_id, reason, ACTOR)
            await conn.execute(_SETTLE, webhook_id, reason, changed)
        if changed:
            done += 1
            WEBHOOKS_AUTO_DEACTIVATED.labels(row["integration_id"]).inc()
            logger.info("webhook auto-deactivated", extra={"webhook_id": webhook_id, "reason": reason})
    await announce_deactivations(pool, producer, ops_topic)
    return done


async def announce_deactivations(
    pool: asyncpg.Pool, producer: AIOKafkaProducer | None, ops_topic: str
) -> None:
    """Publish ``webhook_deactivated.v1`` for every deactivation not announced yet."""

    def event(row: asyncpg.Record) -> WebhookDeactivatedV1:
        return WebhookDeactivatedV1(
            webhook_id=row["webhook_id"],
            integration_id=row["integration_id"],
            reason=row["pending_announcement"],
            deactivated_at=utcnow(),
        )

    await publish_pending(pool, producer, ops_topic, "pending_announcement", event)


async def mark_failing_too_long(
    pool: asyncpg.Pool, thresholds: Thresholds, now: datetime | None = None
) -> int:
    """Record a pending deactivation for active webhooks failing without success for too long."""
    moment = now or utcnow()
    rows = await pool.fetch(
        """SELECT * FROM webhook_delivery_health
           WHERE failing_since IS NOT NULL AND pending_deactivation IS NULL
             AND failing_since <= $1::timestamptz - make_interval(secs => $2)""",
        moment,
        thresholds.max_failing_s,
    )
    marked = 0
    for row in rows:
        async with pool.acquire() as conn:
            config = await webhooks.get_webhook_config(conn, row["webhook_id"])
        if config is None or not config.active:
            continue
        # A change or re-activation of the webhook restarts the clock.
        reason = failing_too_long(health_from_row(row), moment, thresholds, clock_start=config.updated_at)
        if reason is None:
            continue
        await pool.execute(
            "UPDATE webhook_delivery_health SET pending_deactivation = $2 WHERE webhook_id = $1 "
            "AND pending_deactivation IS NULL",
            row["webhook_id"],
            reason,
        )
        marked += 1
    return marked
