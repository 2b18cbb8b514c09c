"""Carrying out automatic deactivations decided on ingest, and the periodic "failing too long" check.

A decision is first stored as ``webhook_delivery_health.pending_deactivation`` (in the ingest
transaction); :func:`carry_out_deactivations` then deactivates the webhook through the repository
(row + outbox + audit, so the change reaches ``webhooks.config``), publishes
``webhook_deactivated.v1`` on ``webhooks.ops`` and clears the decision. A crash in between is
retried on the next run: nothing is decided twice, and at worst the ops event is published twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaProducer

from config_api import repository
from config_api.delivery_store import health_from_row
from config_api.webhook_health import Thresholds, failing_too_long
from contracts.base import utcnow
from contracts.events import WebhookDeactivatedV1

logger = logging.getLogger(__name__)

ACTOR = "system:auto-deactivation"


async def carry_out_deactivations(
    pool: asyncpg.Pool, producer: AIOKafkaProducer | None, ops_topic: str
) -> int:
    """Deactivate every webhook with a pending decision; returns how many were deactivated now.

    Raises KafkaError when the ops event cannot be published (the decision stays pending).
    """
    done = 0
    rows = await pool.fetch(
        "SELECT webhook_id, integration_id, pending_deactivation FROM webhook_delivery_health "
        "WHERE pending_deactivation IS NOT NULL ORDER BY webhook_id"
    )
    for row in rows:
        webhook_id: str = row["webhook_id"]
        reason: str = row["pending_deactivation"]
        async with pool.acquire() as conn:
            changed = await repository.deactivate_webhook(conn, webhook_id, reason, ACTOR)
            config = await repository.get_webhook_config(conn, webhook_id)
        # Publish also when an earlier run deactivated it but crashed before publishing.
        announce = changed or (
            config is not None and not config.active and config.deactivated_reason == reason
        )
        if announce and producer is not None:
            event = WebhookDeactivatedV1(
                webhook_id=webhook_id,
                integration_id=config.integration_id if config else row["integration_id"],
                reason=reason,
                deactivated_at=utcnow(),
            )
            await producer.send_and_wait(ops_topic, event.to_bytes(), key=webhook_id.encode())
        elif announce:
            logger.warning(
                "no Kafka producer: webhook.deactivated event not published", extra={"webhook_id": webhook_id}
            )
            continue  # keep it pending until the producer is available
        await pool.execute(
            """UPDATE webhook_delivery_health
               SET pending_deactivation = NULL, consecutive_failures = 0, last_failed_delivery = NULL,
                   failing_since = NULL, updated_at = now()
               WHERE webhook_id = $1 AND pending_deactivation = $2""",
            webhook_id,
            reason,
        )
        if changed:
            done += 1
            logger.info("webhook auto-deactivated", extra={"webhook_id": webhook_id, "reason": reason})
    return done


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
            config = await repository.get_webhook_config(conn, row["webhook_id"])
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
