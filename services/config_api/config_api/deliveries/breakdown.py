"""Error breakdown of the status endpoint: attempts per status code and per error category.

Kept on ingest as rollups in the same buckets as ``delivery_stats`` (``delivery_error_stats``), so
``GET …/status`` reads at most a few hundred small rows whatever the size of the attempt log.
Counted: requests actually made (breaker deferrals and cancels are not attempts), every status
code (2xx included, so the chart shows the whole picture) and the error category of each failed one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from config_api.deliveries.rollup import BUCKET_SIZES_S, bucket_start
from contracts.deliveries import DeliveryResultV1

ErrorKey = tuple[str, int, datetime, str, str]
"""(webhook_id, bucket_s, bucket_start, kind, key); kind is 'status' or 'category'."""


def error_rollup(results: Iterable[DeliveryResultV1]) -> dict[ErrorKey, tuple[str, int]]:
    """(integration_id, count) per (webhook, bucket, kind, key) for a batch of new results (pure)."""
    counts: Counter[ErrorKey] = Counter()
    integration: dict[str, str] = {}
    for result in results:
        if result.outcome == "cancelled" or result.error_category == "circuit_open":
            continue  # no request was made
        integration[result.webhook_id] = result.integration_id
        for size in BUCKET_SIZES_S:
            start = bucket_start(result.attempted_at, size)
            if result.status_code is not None:
                counts[(result.webhook_id, size, start, "status", str(result.status_code))] += 1
            if result.error_category is not None:
                counts[(result.webhook_id, size, start, "category", result.error_category)] += 1
    return {key: (integration[key[0]], n) for key, n in counts.items()}


_UPSERT = """
INSERT INTO delivery_error_stats (webhook_id, bucket_s, bucket_start, kind, key, integration_id, count)
SELECT * FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::int[])
ON CONFLICT (webhook_id, bucket_s, bucket_start, kind, key)
DO UPDATE SET count = delivery_error_stats.count + EXCLUDED.count
"""


async def store_error_stats(conn: asyncpg.Connection, new: Sequence[DeliveryResultV1]) -> None:
    """Add a batch's counts (sorted, so concurrent batches lock rows in the same order)."""
    rows = sorted(error_rollup(new).items())
    if not rows:
        return
    columns: list[list[Any]] = [[] for _ in range(7)]
    for (webhook_id, size, start, kind, key), (integration_id, n) in rows:
        for column, value in zip(
            columns, (webhook_id, size, start, kind, key, integration_id, n), strict=True
        ):
            column.append(value)
    await conn.execute(_UPSERT, *columns)


def breakdown(rows: Iterable[tuple[str, str, int]]) -> dict[str, list[dict[str, Any]]]:
    """``status_codes`` and ``error_categories`` lists, largest count first (pure).

    ``rows`` are (kind, key, count) summed over the window.
    """
    codes: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    for kind, key, n in rows:
        (codes if kind == "status" else categories)[key] += n
    return {
        "status_codes": [
            {"status_code": int(code), "count": n}
            for code, n in sorted(codes.items(), key=lambda item: (-item[1], int(item[0])))
        ],
        "error_categories": [
            {"error_category": name, "count": n}
            for name, n in sorted(categories.items(), key=lambda item: (-item[1], item[0]))
        ],
    }


_INTEGRATION_SQL = """
SELECT kind, key, sum(count)::int AS count FROM delivery_error_stats
WHERE integration_id = $1 AND bucket_s = $2 AND bucket_start >= $3
GROUP BY kind, key
"""


async def integration_breakdown(
    conn: asyncpg.Connection | asyncpg.Pool, integration_id: str, bucket_s: int, start: datetime
) -> dict[str, list[dict[str, Any]]]:
    """The breakdown over every webhook of an integration since ``start``."""
    rows = await conn.fetch(_INTEGRATION_SQL, integration_id, bucket_s, start)
    return breakdown((row["kind"], row["key"], row["count"]) for row in rows)
