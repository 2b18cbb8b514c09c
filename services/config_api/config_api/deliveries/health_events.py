"""Publishing ``webhook_health_changed.v1`` (failing / recovered) on ``webhooks.ops``.

The change is decided on ingest (:func:`config_api.deliveries.health.health_transition`, stored as
``webhook_delivery_health.pending_health_change`` in the ingest transaction) and published here after
the commit, then cleared: at least once, like deactivations (:mod:`config_api.deliveries.deactivation`).
Webhooks of the ``carehooks`` integration never get one (no loops).
"""

from __future__ import annotations

import asyncpg
from aiokafka import AIOKafkaProducer

from config_api.deliveries.announcements import publish_pending
from contracts.base import utcnow
from contracts.events import WebhookHealthChangedV1


async def announce_health_changes(
    pool: asyncpg.Pool, producer: AIOKafkaProducer | None, ops_topic: str
) -> None:
    """Publish every pending failing / recovered change (raises KafkaError: it stays pending)."""
    await publish_pending(pool, producer, ops_topic, "pending_health_change", health_event)


def health_event(row: asyncpg.Record) -> WebhookHealthChangedV1:
    """The record of one pending change (the counters, rate and last error only when failing)."""
    failing = row["pending_health_change"] == "failing"
    return WebhookHealthChangedV1(
        webhook_id=row["webhook_id"],
        integration_id=row["integration_id"],
        state=row["pending_health_change"],
        consecutive_failures=row["consecutive_failures"] if failing else 0,
        last_error=row["last_error"] if failing else None,
        last_status_code=row["last_status_code"] if failing else None,
        success_rate=round(row["success_rate"], 3) if failing else None,
        changed_at=utcnow(),
    )
