"""Bulk recovery of a webhook's failed deliveries: selecting them, recording the request, progress.

A recovery is a row of ``delivery_recoveries`` plus one ``delivery_recovery_items`` row per
delivery to re-send, written in one transaction with the audit record. The background task in
``recovery_runner.py`` sends the pending items. Rules, the same as a DLQ replay's:

* **once unless forced**: a delivery an earlier recovery sent (or a running one is about to send)
  is left out and counted in ``already_recovered``; ``force`` sends it again;
* **its own delivery id**: ``recovered_delivery_id(original, recovery)``, fixed per pair, so a
  job sent twice across a crash reaches the receiver with the same ``webhook-id``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import asyncpg

from admin_auth.tokens import record_audit

RECOVERABLE = ("failed", "dead_lettered")


def recovered_delivery_id(delivery_id: str, recovery_id: str) -> str:
    """``msg_`` + 32 hex of sha256(original delivery id, recovery id) (the SQL below computes the same)."""
    digest = hashlib.sha256(f"{delivery_id}\x1f{recovery_id}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


# The deliveries of the webhook whose latest attempt failed, first attempted in the window; the
# ones not re-sent already (sent by a recovery, or pending in one still running), or all of them
# with force, become the items. Returns (matching, inserted).
_SELECT_ITEMS = """
WITH matching AS (
    SELECT d.delivery_id,
           NOT EXISTS (
               SELECT 1 FROM delivery_recovery_items i JOIN delivery_recoveries r ON r.id = i.recovery_id
               WHERE i.delivery_id = d.delivery_id
                 AND (i.state = 'sent' OR (i.state = 'pending' AND r.state = 'running'))) AS fresh
    FROM deliveries d
    WHERE d.webhook_id = $2 AND d.outcome = ANY($3::text[])
      AND d.first_attempt_at >= $4 AND ($5::timestamptz IS NULL OR d.first_attempt_at < $5)
), inserted AS (
    INSERT INTO delivery_recovery_items (recovery_id, delivery_id, new_delivery_id)
    SELECT $1, m.delivery_id,
           'msg_' || left(encode(sha256(convert_to(m.delivery_id || chr(31) || $1, 'UTF8')), 'hex'), 32)
    FROM matching m WHERE m.fresh OR $6
    RETURNING 1
)
SELECT (SELECT count(*) FROM matching)::int AS matching, (SELECT count(*) FROM inserted)::int AS inserted
"""


@dataclass(frozen=True)
class RecoveryRequest:
    """What to recover (times in UTC)."""

    integration_id: str
    webhook_id: str
    requested_by: str
    since: datetime
    until: datetime | None
    outcomes: Sequence[str]
    force: bool
    rate_per_s: float


async def create_recovery(pool: asyncpg.Pool, request: RecoveryRequest) -> dict[str, Any]:
    """Record the recovery and its items (one transaction, audited); returns the recovery."""
    recovery_id = f"rc_{uuid.uuid4().hex}"
    window = (request.webhook_id, list(request.outcomes), request.since, request.until)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO delivery_recoveries (id, integration_id, webhook_id, requested_by, since, until,
                   outcomes, force, rate_per_s, state, total)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'running', 0)""",
            recovery_id,
            request.integration_id,
            request.webhook_id,
            request.requested_by,
            request.since,
            request.until,
            list(request.outcomes),
            request.force,
            request.rate_per_s,
        )
        counts = await conn.fetchrow(_SELECT_ITEMS, recovery_id, *window, request.force)
        assert counts is not None  # one row always
        total, matching = counts["inserted"], counts["matching"]
        await conn.execute(
            """UPDATE delivery_recoveries SET total = $2, already_recovered = $3,
                   state = CASE WHEN $2 = 0 THEN 'done' ELSE 'running' END,
                   finished_at = CASE WHEN $2 = 0 THEN now() END
               WHERE id = $1""",
            recovery_id,
            total,
            matching - total,
        )
        await record_audit(
            conn,
            request.requested_by,
            "delivery.recover",
            integration_id=request.integration_id,
            webhook_id=request.webhook_id,
            details={
                "recovery_id": recovery_id,
                "since": request.since.isoformat(),
                "until": request.until.isoformat() if request.until else None,
                "outcomes": list(request.outcomes),
                "force": request.force,
                "rate_per_s": request.rate_per_s,
                "deliveries": total,
                "already_recovered": matching - total,
            },
        )
    found = await get_recovery(pool, request.webhook_id, recovery_id)
    assert found is not None  # just committed
    return found


_SELECT = """
SELECT r.*, (SELECT count(*) FROM delivery_recovery_items i
             WHERE i.recovery_id = r.id AND i.state = 'pending')::int AS pending
FROM delivery_recoveries r
"""


def _view(row: asyncpg.Record) -> dict[str, Any]:
    item = dict(row)
    item.pop("lease_until", None)
    item["progress_url"] = (
        f"/admin/integration/{quote(item['integration_id'], safe='')}/webhooks/"
        f"{quote(item['webhook_id'], safe='')}/recoveries/{item['id']}"
    )
    return item


async def get_recovery(
    conn: asyncpg.Pool | asyncpg.Connection, webhook_id: str, recovery_id: str
) -> dict[str, Any] | None:
    """One recovery of a webhook with its progress, or None."""
    row = await conn.fetchrow(f"{_SELECT} WHERE r.id = $1 AND r.webhook_id = $2", recovery_id, webhook_id)
    return _view(row) if row is not None else None


async def list_recoveries(
    conn: asyncpg.Pool | asyncpg.Connection, webhook_id: str, limit: int = 50
) -> list[dict[str, Any]]:
    """The webhook's latest recoveries, newest first."""
    rows = await conn.fetch(
        f"{_SELECT} WHERE r.webhook_id = $1 ORDER BY r.created_at DESC, r.id DESC LIMIT $2", webhook_id, limit
    )
    return [_view(row) for row in rows]
