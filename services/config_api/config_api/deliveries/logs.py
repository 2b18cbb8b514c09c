"""The delivery log of a webhook: newest first, keyset (cursor) pagination, filters.

The cursor is the (attempted_at, id) of the last item, so a page costs an index range scan on
``delivery_attempts_webhook_time_idx`` however deep the client pages, and rows ingested meanwhile
never shift a page.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg

from config_api.deliveries.excerpts import open_excerpt
from webhook_core.secrets_crypto import SecretBox

K = TypeVar("K", int, str)

OUTCOMES = ("succeeded", "failed", "retrying", "dead_lettered", "cancelled")


class CursorError(ValueError):
    """The cursor is not one this API produced."""


@dataclass(frozen=True)
class LogFilters:
    """Filters of a log query (all optional)."""

    outcome: str | None = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    status_code: int | None = None
    delivery_id: str | None = None


def encode_cursor(moment: datetime, key: int | str) -> str:
    """An opaque cursor for the item after this one (its time and its unique key)."""
    raw = json.dumps([moment.isoformat(), key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, key_type: type[K]) -> tuple[datetime, K]:
    """(time, key) from a cursor; raises CursorError when it is malformed."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        when, key = json.loads(raw)
        moment = datetime.fromisoformat(when)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise CursorError("cursor is not valid; use the next_cursor of a previous page") from exc
    if type(key) is not key_type or moment.tzinfo is None:
        raise CursorError("cursor is not valid; use the next_cursor of a previous page")
    return moment.astimezone(UTC), key


def build_query(
    webhook_id: str, filters: LogFilters, limit: int, cursor: tuple[datetime, int] | None
) -> tuple[str, list[Any]]:
    """SQL and arguments of one page (fetches ``limit + 1`` rows to know whether more follow)."""
    clauses = ["webhook_id = $1"]
    args: list[Any] = [webhook_id]

    def add(sql: str, value: Any) -> None:
        args.append(value)
        clauses.append(sql.replace("?", f"${len(args)}"))

    if filters.outcome is not None:
        add("outcome = ?", filters.outcome)
    if filters.event_type is not None:
        add("event_type = ?", filters.event_type)
    if filters.since is not None:
        add("attempted_at >= ?", filters.since)
    if filters.until is not None:
        add("attempted_at < ?", filters.until)
    if filters.status_code is not None:
        add("status_code = ?", filters.status_code)
    if filters.delivery_id is not None:
        add("delivery_id = ?", filters.delivery_id)
    if cursor is not None:
        args.extend(cursor)
        clauses.append(f"(attempted_at, id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit + 1)
    sql = (
        "SELECT id, delivery_id, replay_id, event_id, event_type, attempt, outcome, status_code, error_category,"
        " error, response_ms, response_body_excerpt, attempted_at, next_attempt_at, circuit_state"
        f" FROM delivery_attempts WHERE {' AND '.join(clauses)}"
        f" ORDER BY attempted_at DESC, id DESC LIMIT ${len(args)}"
    )
    return sql, args


async def fetch_logs(
    conn: asyncpg.Connection | asyncpg.Pool,
    webhook_id: str,
    filters: LogFilters,
    limit: int,
    cursor: str | None,
    box: SecretBox | None = None,
) -> dict[str, Any]:
    """One page: ``{"items": [...], "next_cursor": str | None}``; raises CursorError.

    Response excerpts are decrypted with ``box``; without one (a viewer's page) they are left out:
    a receiver's answer can echo patient data, so viewers see the status and the category only."""
    position = decode_cursor(cursor, int) if cursor else None
    sql, args = build_query(webhook_id, filters, limit, position)
    rows = await conn.fetch(sql, *args)
    more = len(rows) > limit
    rows = rows[:limit]
    items = []
    for row in rows:
        item = dict(row)
        del item["id"]
        item["replay_id"] = item["replay_id"] or None
        stored = item["response_body_excerpt"]
        item["response_body_excerpt"] = (
            None if box is None else open_excerpt(box, item["delivery_id"], stored)
        )
        items.append(item)
    next_cursor = encode_cursor(rows[-1]["attempted_at"], rows[-1]["id"]) if more else None
    return {"items": items, "next_cursor": next_cursor}
