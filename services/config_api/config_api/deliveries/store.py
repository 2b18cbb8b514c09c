"""SQL of the delivery side: storing a batch of results with its rollups (one transaction).

Idempotency: attempts are inserted with ``ON CONFLICT DO NOTHING RETURNING``; only the rows that
were really inserted feed the counters, the health rows, the pending-retry set and the payload
store. Re-consuming the results topic after a crash therefore changes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict

import asyncpg

from config_api.deliveries.breakdown import store_error_stats
from config_api.deliveries.excerpts import seal_excerpt
from config_api.deliveries.health import Health, Thresholds, apply_result, health_transition
from config_api.deliveries.latest import upsert_deliveries
from config_api.deliveries.rollup import rollup
from contracts.catalogs import CAREHOOKS_INTEGRATION
from contracts.deliveries import DeliveryResultV1
from webhook_core.secrets_crypto import SecretBox

RESPONSE_EXCERPT_BYTES = 1024
_MAX_ERROR_CHARS = 2000
_MAX_EVENT_ID_CHARS = 500
"""The event id comes from the producer's event: a hostile one must not make every row large."""

AttemptKey = tuple[str, str, int, str]
"""(delivery_id, replay_id or '', attempt, outcome)"""


def clean_text(value: str | None, max_bytes: int | None = None, max_chars: int | None = None) -> str | None:
    """Text PostgreSQL accepts (no NUL), cut to a byte or character budget without splitting a character."""
    if value is None:
        return None
    text = value.replace("\x00", "\ufffd")
    try:
        text.encode()
    except UnicodeEncodeError:  # lone surrogates (a JSON escape can carry one): not storable as UTF-8
        text = text.encode(errors="replace").decode()
    if max_chars is not None:
        text = text[:max_chars]
    if max_bytes is not None:
        text = text.encode()[:max_bytes].decode(errors="ignore")
    return text


def _clean_error(message: str | None) -> str | None:
    return clean_text(message, max_chars=_MAX_ERROR_CHARS)


def attempt_key(result: DeliveryResultV1) -> AttemptKey:
    """The identity of one result in the attempt log."""
    return (result.delivery_id, result.replay_id or "", result.attempt, result.outcome)


_INSERT_ATTEMPTS = """
INSERT INTO delivery_attempts (
    webhook_id, integration_id, delivery_id, replay_id, event_id, event_type, attempt, outcome,
    status_code, error_category, error, response_ms, response_body_excerpt, attempted_at,
    next_attempt_at, circuit_state)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[],
    $9::int[], $10::text[], $11::text[], $12::int[], $13::text[], $14::timestamptz[],
    $15::timestamptz[], $16::text[])
ON CONFLICT (delivery_id, replay_id, attempt, outcome) DO NOTHING
RETURNING delivery_id, replay_id, attempt, outcome
"""

_UPSERT_STATS = """
INSERT INTO delivery_stats (webhook_id, bucket_s, bucket_start, integration_id, attempts, succeeded,
                            failed, retrying, dead_lettered, cancelled, latency_hist)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (webhook_id, bucket_s, bucket_start) DO UPDATE SET
    attempts = delivery_stats.attempts + EXCLUDED.attempts,
    succeeded = delivery_stats.succeeded + EXCLUDED.succeeded,
    failed = delivery_stats.failed + EXCLUDED.failed,
    retrying = delivery_stats.retrying + EXCLUDED.retrying,
    dead_lettered = delivery_stats.dead_lettered + EXCLUDED.dead_lettered,
    cancelled = delivery_stats.cancelled + EXCLUDED.cancelled,
    latency_hist = ARRAY(
        SELECT COALESCE(a, 0) + COALESCE(b, 0)
        FROM unnest(delivery_stats.latency_hist, EXCLUDED.latency_hist) AS t(a, b))
"""

_HEALTH_COLUMNS = tuple(Health.__dataclass_fields__)

_UPSERT_HEALTH = f"""
INSERT INTO webhook_delivery_health (webhook_id, integration_id, {", ".join(_HEALTH_COLUMNS)},
                                     pending_deactivation, pending_retries, failing_announced,
                                     pending_health_change, updated_at)
VALUES ($1, $2, {", ".join(f"${i + 3}" for i in range(len(_HEALTH_COLUMNS)))}, ${len(_HEALTH_COLUMNS) + 3},
        GREATEST(0, ${len(_HEALTH_COLUMNS) + 4}), ${len(_HEALTH_COLUMNS) + 5}, ${len(_HEALTH_COLUMNS) + 6}, now())
ON CONFLICT (webhook_id) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in _HEALTH_COLUMNS)},
    failing_announced = EXCLUDED.failing_announced,
    pending_health_change = EXCLUDED.pending_health_change,
    pending_retries = GREATEST(0, webhook_delivery_health.pending_retries + ${len(_HEALTH_COLUMNS) + 4}),
    pending_deactivation = COALESCE(webhook_delivery_health.pending_deactivation,
                                    EXCLUDED.pending_deactivation),
    updated_at = now()
"""

_UPSERT_PAYLOAD = """
INSERT INTO delivery_payloads (delivery_id, webhook_id, integration_id, event_id, event_type,
                               payload_encrypted, first_attempt_at, last_attempt_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
ON CONFLICT (delivery_id) DO UPDATE SET
    payload_encrypted = EXCLUDED.payload_encrypted,
    first_attempt_at = LEAST(delivery_payloads.first_attempt_at, EXCLUDED.first_attempt_at),
    last_attempt_at = GREATEST(delivery_payloads.last_attempt_at, EXCLUDED.last_attempt_at)
"""


def health_from_row(row: asyncpg.Record | None) -> Health:
    """A :class:`Health` from a ``webhook_delivery_health`` row (defaults when there is none)."""
    if row is None:
        return Health()
    return Health(**{c: row[c] for c in _HEALTH_COLUMNS})


async def insert_attempts(
    conn: asyncpg.Connection, results: Sequence[DeliveryResultV1], box: SecretBox | None = None
) -> set[AttemptKey]:
    """Insert the attempt rows (excerpts sealed with ``box``; without one they are not stored at
    all, never in plain text); returns the keys that were new."""
    columns: list[list[object]] = [[] for _ in range(16)]
    for r in results:
        excerpt = clean_text(r.response_body_excerpt, max_bytes=RESPONSE_EXCERPT_BYTES)
        row = (
            r.webhook_id,
            r.integration_id,
            r.delivery_id,
            r.replay_id or "",
            clean_text(r.event_id, max_chars=_MAX_EVENT_ID_CHARS),
            r.event_type,
            r.attempt,
            r.outcome,
            r.status_code,
            r.error_category,
            _clean_error(r.error_message),
            r.response_ms,
            seal_excerpt(box, r.delivery_id, excerpt) if box is not None else None,
            r.attempted_at,
            r.next_attempt_at,
            r.circuit_state,
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    rows = await conn.fetch(_INSERT_ATTEMPTS, *columns)
    return {(row["delivery_id"], row["replay_id"], row["attempt"], row["outcome"]) for row in rows}


async def store_results(
    conn: asyncpg.Connection,
    results: Sequence[DeliveryResultV1],
    thresholds: Thresholds,
    box: SecretBox | None = None,
) -> list[DeliveryResultV1]:
    """Store a batch in one transaction; returns the results that were new (not seen before).
    Response excerpts are stored sealed with ``box``, or not at all without one."""
    unique: dict[AttemptKey, DeliveryResultV1] = {}
    for result in results:
        unique.setdefault(attempt_key(result), result)
    async with conn.transaction():
        inserted = await insert_attempts(conn, list(unique.values()), box)
        # Every result, not only the new ones: a job published twice under one delivery id logs its
        # attempts once (same key), but its copy's later result is still the delivery's latest.
        # Re-applying a result changes nothing (a row only moves forward in time).
        await upsert_deliveries(conn, list(unique.values()), _clean_error)
        new = [r for k, r in unique.items() if k in inserted]
        if not new:
            return []
        await _update_stats(conn, new)
        await store_error_stats(conn, new)
        pending_delta = await _update_pending(conn, new)
        await _update_health(conn, new, thresholds, pending_delta)
        await _store_payloads(conn, new)
    return new


async def _update_stats(conn: asyncpg.Connection, new: Sequence[DeliveryResultV1]) -> None:
    rows = [
        (
            webhook_id,
            bucket_s,
            start,
            d.integration_id,
            d.attempts,
            d.succeeded,
            d.failed,
            d.retrying,
            d.dead_lettered,
            d.cancelled,
            d.latency_hist,
        )
        for (webhook_id, bucket_s, start), d in sorted(rollup(new).items())
    ]  # sorted: concurrent batches lock bucket rows in the same order (no deadlock)
    await conn.executemany(_UPSERT_STATS, rows)


async def _update_health(
    conn: asyncpg.Connection,
    new: Sequence[DeliveryResultV1],
    thresholds: Thresholds,
    pending_delta: Counter[str],
) -> None:
    by_webhook: dict[str, list[DeliveryResultV1]] = {}
    for result in new:
        by_webhook.setdefault(result.webhook_id, []).append(result)
    ids = sorted(by_webhook)
    current = {
        row["webhook_id"]: row
        for row in await conn.fetch(
            "SELECT * FROM webhook_delivery_health WHERE webhook_id = ANY($1::text[]) ORDER BY webhook_id FOR UPDATE",
            ids,
        )
    }
    rows = []
    for webhook_id in ids:
        row = current.get(webhook_id)
        health = health_from_row(row)
        failing = bool(row["failing_announced"]) if row is not None else False
        change: str | None = row["pending_health_change"] if row is not None else None
        reason: str | None = None
        integration_id = by_webhook[webhook_id][0].integration_id
        for result in by_webhook[webhook_id]:
            health, fired = apply_result(health, result, thresholds)
            reason = reason or fired
            if integration_id == CAREHOOKS_INTEGRATION:
                continue  # no loops: an operational webhook's health is no operational event
            moved = health_transition(health, result.outcome == "succeeded", failing, thresholds)
            if moved is not None:
                failing = moved == "failing"
                # A change not published yet and its opposite cancel out (failing then recovered).
                change = None if change is not None else moved
        values = asdict(health)
        rows.append(
            (
                webhook_id,
                integration_id,
                *(values[c] for c in _HEALTH_COLUMNS),
                reason,
                pending_delta[webhook_id],
                failing,
                change,
            )
        )
    await conn.executemany(_UPSERT_HEALTH, rows)


async def _update_pending(conn: asyncpg.Connection, new: Sequence[DeliveryResultV1]) -> Counter[str]:
    """Maintain the set of deliveries waiting for a retry; returns the change of its size per webhook."""
    latest: dict[str, DeliveryResultV1] = {}
    for result in new:
        latest[result.delivery_id] = result  # results of one webhook arrive in order (key = webhook id)
    waiting = [r for r in latest.values() if r.outcome == "retrying"]
    done = sorted(d for d, r in latest.items() if r.outcome != "retrying")
    delta: Counter[str] = Counter()
    if done:
        for row in await conn.fetch(
            "DELETE FROM delivery_pending_retries WHERE delivery_id = ANY($1::text[]) RETURNING webhook_id",
            done,
        ):
            delta[row["webhook_id"]] -= 1
    if waiting:
        rows = await conn.fetch(
            """INSERT INTO delivery_pending_retries (delivery_id, webhook_id, next_attempt_at, attempt)
               SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::int[])
               ON CONFLICT (delivery_id) DO UPDATE SET next_attempt_at = EXCLUDED.next_attempt_at,
                                                       attempt = EXCLUDED.attempt
               RETURNING webhook_id, (xmax = 0) AS inserted""",
            [r.delivery_id for r in waiting],
            [r.webhook_id for r in waiting],
            [r.next_attempt_at for r in waiting],
            [r.attempt for r in waiting],
        )
        for row in rows:
            if row["inserted"]:
                delta[row["webhook_id"]] += 1
    return delta


async def _store_payloads(conn: asyncpg.Connection, new: Sequence[DeliveryResultV1]) -> None:
    rows = {
        r.delivery_id: (
            r.delivery_id,
            r.webhook_id,
            r.integration_id,
            r.event_id,
            r.event_type,
            r.payload_encrypted,
            r.attempted_at,
        )
        for r in new
        if r.payload_encrypted
    }
    if rows:
        await conn.executemany(_UPSERT_PAYLOAD, [rows[k] for k in sorted(rows)])
    touched = sorted({r.delivery_id for r in new if not r.payload_encrypted})
    if touched:
        # Results without the payload (e.g. cancels) still extend how long the payload is kept.
        await conn.execute(
            """UPDATE delivery_payloads SET last_attempt_at = GREATEST(last_attempt_at, now())
               WHERE delivery_id = ANY($1::text[])""",
            touched,
        )
