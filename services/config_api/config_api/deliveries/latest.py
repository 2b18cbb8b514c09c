"""The ``deliveries`` table: one row per delivery with its latest result, kept on ingest.

Delivery search reads it instead of the attempt log. Each batch upserts one row per delivery it
touches; a result older than the stored latest one does not overwrite it (results of a webhook
arrive in order, but a batch re-consumed after a crash must not move a delivery backwards).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import asyncpg

from contracts.deliveries import DeliveryResultV1

_UPSERT = """
INSERT INTO deliveries (delivery_id, integration_id, webhook_id, event_id, event_type, object_type,
                        object_id, first_attempt_at, last_attempt_at, replay_id, attempt, outcome,
                        status_code, error_category, error, response_ms)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                     $8::timestamptz[], $9::timestamptz[], $10::text[], $11::int[], $12::text[],
                     $13::int[], $14::text[], $15::text[], $16::int[])
ON CONFLICT (delivery_id) DO UPDATE SET
    object_type = COALESCE(deliveries.object_type, EXCLUDED.object_type),
    object_id = COALESCE(deliveries.object_id, EXCLUDED.object_id),
    first_attempt_at = LEAST(deliveries.first_attempt_at, EXCLUDED.first_attempt_at),
    last_attempt_at = EXCLUDED.last_attempt_at,
    replay_id = EXCLUDED.replay_id,
    attempt = EXCLUDED.attempt,
    outcome = EXCLUDED.outcome,
    status_code = EXCLUDED.status_code,
    error_category = EXCLUDED.error_category,
    error = EXCLUDED.error,
    response_ms = EXCLUDED.response_ms
WHERE EXCLUDED.last_attempt_at >= deliveries.last_attempt_at
"""


def latest_per_delivery(
    results: Sequence[DeliveryResultV1],
) -> list[tuple[DeliveryResultV1, DeliveryResultV1]]:
    """(first, latest) result of each delivery in a batch, in delivery id order (pure).

    The latest is the one with the newest ``attempted_at``; on a tie the later in the batch wins.
    """
    first: dict[str, DeliveryResultV1] = {}
    latest: dict[str, DeliveryResultV1] = {}
    for result in results:
        key = result.delivery_id
        if key not in first or result.attempted_at < first[key].attempted_at:
            first[key] = result
        if key not in latest or result.attempted_at >= latest[key].attempted_at:
            latest[key] = result
    return [(first[key], latest[key]) for key in sorted(latest)]


async def upsert_deliveries(
    conn: asyncpg.Connection,
    new: Sequence[DeliveryResultV1],
    clean_error: Callable[[str | None], str | None],
) -> None:
    """Record the latest result of each delivery of a batch (error text as the attempt log stores it)."""
    columns: list[list[object]] = [[] for _ in range(16)]
    for first, r in latest_per_delivery(new):
        row = (
            r.delivery_id,
            r.integration_id,
            r.webhook_id,
            r.event_id,
            r.event_type,
            r.object_type or first.object_type,
            r.object_id or first.object_id,
            first.attempted_at,
            r.attempted_at,
            r.replay_id or "",
            r.attempt,
            r.outcome,
            r.status_code,
            r.error_category,
            clean_error(r.error_message),
            r.response_ms,
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    if columns[0]:
        await conn.execute(_UPSERT, *columns)
