"""The status of a webhook from the rollups (never from the attempt log, so it stays fast).

Window edges are rounded to the bucket size: 1h sums the last 60 minute buckets (the current one
included), 24h the last 24 hour buckets, 7d the last 168. ``series`` splits the window into equal
steps for the status chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import asyncpg

from config_api.deliveries.breakdown import breakdown
from config_api.deliveries.latency import merge, percentile
from config_api.deliveries.rollup import HOUR_S, MINUTE_S, bucket_start
from config_api.deliveries.store import health_from_row
from contracts.base import utcnow

Window = Literal["1h", "24h", "7d"]


@dataclass(frozen=True)
class WindowSpec:
    """How one window is read: bucket size, number of buckets, series step."""

    bucket_s: int
    buckets: int
    series_step_s: int


WINDOWS: dict[str, WindowSpec] = {
    "1h": WindowSpec(bucket_s=MINUTE_S, buckets=60, series_step_s=5 * MINUTE_S),
    "24h": WindowSpec(bucket_s=HOUR_S, buckets=24, series_step_s=HOUR_S),
    "7d": WindowSpec(bucket_s=HOUR_S, buckets=168, series_step_s=6 * HOUR_S),
}

_COUNTERS = ("attempts", "succeeded", "failed", "retrying", "dead_lettered", "cancelled")


def window_start(spec: WindowSpec, now: datetime) -> datetime:
    """Start of the first bucket of the window ending now."""
    return bucket_start(now, spec.bucket_s) - timedelta(seconds=spec.bucket_s * (spec.buckets - 1))


def summarise(
    rows: Sequence[asyncpg.Record | dict[str, Any]], spec: WindowSpec, now: datetime
) -> dict[str, Any]:
    """Window figures and the chart series from the bucket rows of one webhook (pure)."""
    totals = dict.fromkeys(_COUNTERS, 0)
    start = window_start(spec, now)
    steps = spec.buckets * spec.bucket_s // spec.series_step_s
    series = [
        {
            "start": start + timedelta(seconds=i * spec.series_step_s),
            "attempts": 0,
            "succeeded": 0,
            "failed": 0,
            "dead_lettered": 0,
        }
        for i in range(steps)
    ]
    for row in rows:
        for name in _COUNTERS:
            totals[name] += row[name]
        index = int((row["bucket_start"] - start).total_seconds()) // spec.series_step_s
        if 0 <= index < steps:
            point = series[index]
            for name in ("attempts", "succeeded", "failed", "dead_lettered"):
                point[name] += row[name]
    hist = merge([row["latency_hist"] for row in rows])
    attempts = totals["attempts"]
    return {
        "attempts": attempts,
        "succeeded": totals["succeeded"],
        "failed": totals["failed"],
        "success_rate": round(totals["succeeded"] / attempts, 4) if attempts else None,
        "p50_ms": percentile(hist, 0.5),
        "p95_ms": percentile(hist, 0.95),
        "dead_lettered": totals["dead_lettered"],
        "cancelled": totals["cancelled"],
        "series": series,
    }


_STATUS_SQL = """
SELECT h.*, s.*, e.*
FROM (SELECT 1) AS one
LEFT JOIN webhook_delivery_health h ON h.webhook_id = $1
CROSS JOIN LATERAL (
    SELECT array_agg(bucket_start) AS b_bucket_start, array_agg(attempts) AS b_attempts,
           array_agg(succeeded) AS b_succeeded, array_agg(failed) AS b_failed, array_agg(retrying) AS b_retrying,
           array_agg(dead_lettered) AS b_dead_lettered, array_agg(cancelled) AS b_cancelled,
           array_agg(latency_hist) AS b_latency_hist
    FROM delivery_stats WHERE webhook_id = $1 AND bucket_s = $2 AND bucket_start >= $3) AS s
CROSS JOIN LATERAL (
    SELECT array_agg(kind) AS e_kind, array_agg(key) AS e_key, array_agg(n) AS e_count
    FROM (SELECT kind, key, sum(count)::int AS n FROM delivery_error_stats
          WHERE webhook_id = $1 AND bucket_s = $2 AND bucket_start >= $3 GROUP BY kind, key) AS g) AS e
"""
_BUCKET_FIELDS = ("bucket_start", *_COUNTERS, "latency_hist")


def _buckets(row: asyncpg.Record) -> list[dict[str, Any]]:
    """Bucket rows back from the column arrays of :data:`_STATUS_SQL` (NULL arrays: no buckets)."""
    columns = [row[f"b_{name}"] or [] for name in _BUCKET_FIELDS]
    return [dict(zip(_BUCKET_FIELDS, values, strict=True)) for values in zip(*columns, strict=True)]


async def webhook_status(
    conn: asyncpg.Connection | asyncpg.Pool, webhook_id: str, window: str
) -> dict[str, Any]:
    """Health, window figures and pending retries of one webhook (the config part comes from the caller).

    One round trip: under CPU contention every extra query costs a scheduling delay.
    """
    spec = WINDOWS[window]
    now = utcnow()
    row = await conn.fetchrow(_STATUS_SQL, webhook_id, spec.bucket_s, window_start(spec, now))
    assert row is not None  # the outer SELECT always yields one row
    buckets = _buckets(row)
    health = health_from_row(row if row["webhook_id"] is not None else None)
    return {
        "consecutive_failures": health.consecutive_failures,
        "last_success_at": health.last_success_at,
        "last_failure_at": health.last_failure_at,
        "last_error": health.last_error,
        "last_error_category": health.last_error_category,
        "failing_since": health.failing_since,
        "window": window,
        **summarise(buckets, spec, now),
        "pending_retries": row["pending_retries"] or 0,
        **breakdown(zip(row["e_kind"] or [], row["e_key"] or [], row["e_count"] or [], strict=True)),
    }


async def integration_summary(
    conn: asyncpg.Connection | asyncpg.Pool, integration_id: str
) -> list[dict[str, Any]]:
    """Per webhook of an integration: health and the last 24 h (for lists and the integrations page)."""
    spec = WINDOWS["24h"]
    rows = await conn.fetch(
        """SELECT w.id AS webhook_id, w.name, w.active, w.deactivated_reason,
                  h.consecutive_failures, h.last_success_at, h.last_failure_at, h.last_error, h.failing_since,
                  COALESCE(s.attempts, 0) AS attempts_24h, COALESCE(s.failed, 0) AS failed_24h,
                  COALESCE(s.dead_lettered, 0) AS dead_lettered_24h
           FROM webhooks w
           LEFT JOIN webhook_delivery_health h ON h.webhook_id = w.id
           LEFT JOIN LATERAL (
               SELECT sum(attempts)::int AS attempts, sum(failed)::int AS failed, sum(dead_lettered)::int AS dead_lettered
               FROM delivery_stats
               WHERE webhook_id = w.id AND bucket_s = $2 AND bucket_start >= $3) s ON true
           WHERE w.integration_id = $1
           ORDER BY w.created_at, w.id""",
        integration_id,
        spec.bucket_s,
        window_start(spec, utcnow()),
    )
    out = []
    for row in rows:
        item = dict(row)
        item["consecutive_failures"] = item["consecutive_failures"] or 0
        item["failing"] = bool(item["active"] and item["failing_since"] is not None)
        out.append(item)
    return out


async def failing_counts(
    conn: asyncpg.Connection | asyncpg.Pool, integration_ids: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Per integration: active webhooks currently failing (no success since their last failure) and inactive ones.

    For ``GET /admin/integrations``: one query whatever the number of integrations.
    """
    rows = await conn.fetch(
        """SELECT w.integration_id,
                  count(*) FILTER (WHERE w.active AND h.failing_since IS NOT NULL)::int AS failing,
                  count(*) FILTER (WHERE NOT w.active)::int AS inactive
           FROM webhooks w LEFT JOIN webhook_delivery_health h ON h.webhook_id = w.id
           WHERE w.integration_id = ANY($1::text[])
           GROUP BY w.integration_id""",
        list(integration_ids),
    )
    counts = {i: {"failing": 0, "inactive": 0} for i in integration_ids}
    for row in rows:
        counts[row["integration_id"]] = {"failing": row["failing"], "inactive": row["inactive"]}
    return counts
