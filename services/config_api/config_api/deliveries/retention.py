"""Purging delivery logs, payloads and rollups past their retention (run periodically).

Deletes in chunks so a large purge never holds long locks or one huge transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from config_api.deliveries.rollup import HOUR_S, MINUTE_S
from contracts.base import utcnow

CHUNK = 10_000
MINUTE_BUCKETS_KEEP = timedelta(days=1)
"""Minute buckets only serve the 1h window."""
HOUR_BUCKETS_MIN_KEEP = timedelta(days=8)
"""Hour buckets serve the 7d window, whatever the log retention."""


@dataclass(frozen=True)
class PurgeReport:
    """Rows deleted by one purge."""

    attempts: int
    payloads: int
    stats: int
    pending: int


async def _delete_chunked(pool: asyncpg.Pool, table: str, key: str, column: str, cutoff: datetime) -> int:
    total = 0
    while True:
        status = await pool.execute(
            f"DELETE FROM {table} WHERE {key} IN "
            f"(SELECT {key} FROM {table} WHERE {column} < $1 LIMIT {CHUNK})",
            cutoff,
        )
        deleted = int(status.split()[-1])
        total += deleted
        if deleted < CHUNK:
            return total


async def purge_expired(pool: asyncpg.Pool, retention_days: int, now: datetime | None = None) -> PurgeReport:
    """Delete attempts and payloads older than ``retention_days`` and rollups no window needs."""
    moment = now or utcnow()
    cutoff = moment - timedelta(days=retention_days)
    attempts = await _delete_chunked(pool, "delivery_attempts", "id", "attempted_at", cutoff)
    payloads = await _delete_chunked(pool, "delivery_payloads", "delivery_id", "last_attempt_at", cutoff)
    await _delete_chunked(pool, "deliveries", "delivery_id", "last_attempt_at", cutoff)
    pending = await _delete_chunked(
        pool, "delivery_pending_retries", "delivery_id", "next_attempt_at", cutoff
    )
    stats = 0
    for bucket_s, keep in (
        (MINUTE_S, MINUTE_BUCKETS_KEEP),
        (HOUR_S, max(HOUR_BUCKETS_MIN_KEEP, moment - cutoff)),
    ):
        status = await pool.execute(
            "DELETE FROM delivery_stats WHERE bucket_s = $1 AND bucket_start < $2", bucket_s, moment - keep
        )
        stats += int(status.split()[-1])
        await pool.execute(
            "DELETE FROM delivery_error_stats WHERE bucket_s = $1 AND bucket_start < $2",
            bucket_s,
            moment - keep,
        )
    if pending:
        await pool.execute(
            """UPDATE webhook_delivery_health h SET pending_retries =
                   (SELECT count(*) FROM delivery_pending_retries p WHERE p.webhook_id = h.webhook_id)
               WHERE h.pending_retries > 0"""
        )
    # Health rows of webhooks deleted long ago (a deleted webhook's row may still get late results).
    await pool.execute(
        """DELETE FROM webhook_delivery_health h WHERE h.updated_at < $1
           AND NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.id = h.webhook_id)""",
        cutoff,
    )
    return PurgeReport(attempts=attempts, payloads=payloads, stats=stats, pending=pending)
