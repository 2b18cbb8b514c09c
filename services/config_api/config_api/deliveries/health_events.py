"""Publishing ``webhook_health_changed.v1`` (failing / recovered) on ``webhooks.ops``.

The change is decided on ingest (:func:`config_api.deliveries.health.health_transition`, stored as
``webhook_delivery_health.pending_health_change`` in the ingest transaction) and published here after
the commit, then cleared: at least once, like deactivations (:mod:`config_api.deliveries.deactivation`).
Webhooks of the ``carehooks`` integration never get one (no loops).
"""

from __future__ import annotations

import logging

import asyncpg
from aiokafka import AIOKafkaProducer

from contracts.base import utcnow
from contracts.events import WebhookHealthChangedV1

logger = logging.getLogger(__name__)


async def announce_health_changes(
    pool: asyncpg.Pool, producer: AIOKafkaProducer | None, ops_topic: str
) -> None:
    """Publish every pending failing / recovered change (raises KafkaError: it stays pending)."""
    rows = await pool.fetch(
        "SELECT webhook_id, integration_id, pending_health_change, consecutive_failures, last_error, "
        "last_status_code FROM webhook_delivery_health WHERE pending_health_change IS NOT NULL "
        "ORDER BY webhook_id"
    )
    if rows and producer is None:
        logger.warning("no Kafka producer yet: webhook health changes wait", extra={"count": len(rows)})
        return
    for row in rows:
        assert producer is not None
        state = row["pending_health_change"]
        event = WebhookHealthChangedV1(
            webhook_id=row["webhook_id"],
            integration_id=row["integration_id"],
            state=state,
            consecutive_failures=row["consecutive_failures"] if state == "failing" else 0,
            last_error=row["last_error"] if state == "failing" else None,
            last_status_code=row["last_status_code"] if state == "failing" else None,
            changed_at=utcnow(),
        )
        await producer.send_and_wait(ops_topic, event.to_bytes(), key=row["webhook_id"].encode())
        await pool.execute(
            "UPDATE webhook_delivery_health SET pending_health_change = NULL "
            "WHERE webhook_id = $1 AND pending_health_change = $2",
            row["webhook_id"],
            state,
        )
