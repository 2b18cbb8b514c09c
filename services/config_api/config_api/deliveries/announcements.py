"""Publishing the operational records decided on ingest (``webhooks.ops``), at least once.

A decision is stored in a ``webhook_delivery_health`` column in the transaction that made it; after the
commit each pending value is published and then cleared (only if it is still the same value), so a
crash between the two publishes it again rather than losing it. Used for deactivations
(``pending_announcement``) and failing / recovered changes (``pending_health_change``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import asyncpg
from aiokafka import AIOKafkaProducer

from contracts.base import ContractModel

logger = logging.getLogger(__name__)

_COLUMNS = frozenset({"pending_announcement", "pending_health_change"})


async def publish_pending(
    pool: asyncpg.Pool,
    producer: AIOKafkaProducer | None,
    ops_topic: str,
    column: str,
    build: Callable[[asyncpg.Record], ContractModel],
) -> None:
    """Publish ``build(row)`` for every row with ``column`` set, then clear it (raises KafkaError)."""
    if column not in _COLUMNS:  # the name goes into SQL text
        raise ValueError(f"not an announcement column: {column!r}")
    rows = await pool.fetch(
        f"SELECT * FROM webhook_delivery_health WHERE {column} IS NOT NULL ORDER BY webhook_id"
    )
    if rows and producer is None:
        logger.warning("no Kafka producer yet: operational records wait", extra={"count": len(rows)})
        return
    for row in rows:
        assert producer is not None
        await producer.send_and_wait(ops_topic, build(row).to_bytes(), key=row["webhook_id"].encode())
        await pool.execute(
            f"UPDATE webhook_delivery_health SET {column} = NULL WHERE webhook_id = $1 AND {column} = $2",
            row["webhook_id"],
            row[column],
        )
