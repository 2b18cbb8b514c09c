"""Delivery search across an integration: one line per delivery with its latest attempt.

Reads the ``deliveries`` table (one row per delivery, kept on ingest; see ``latest.py``), newest
first by first attempt, with keyset pagination on ``(first_attempt_at, delivery_id)``. Every filter
combination has an index that either leads with it (``event_id``, ``object_id``, ``delivery_id``)
or serves the order directly (integration or webhook, optionally with outcome or event type), so a
page costs an index range scan however many deliveries and attempts there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import asyncpg

from config_api.deliveries.logs import decode_cursor, encode_cursor


@dataclass(frozen=True)
class SearchFilters:
    """Filters of a delivery search (all optional; combined with AND)."""

    event_id: str | None = None
    object_id: str | None = None
    delivery_id: str | None = None
    webhook_id: str | None = None
    outcome: str | None = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


_COLUMNS = (
    "d.delivery_id, d.webhook_id, w.name AS webhook_name, d.event_id, d.event_type, d.object_type,"
    " d.object_id, d.first_attempt_at, d.last_attempt_at, d.attempt, d.outcome, d.status_code,"
    " d.error_category, d.error, d.response_ms, d.replay_id"
)


def build_query(
    integration_id: str, filters: SearchFilters, limit: int, cursor: tuple[datetime, str] | None
) -> tuple[str, list[Any]]:
    """SQL and arguments of one page (fetches ``limit + 1`` rows to know whether more follow)."""
    clauses = ["d.integration_id = $1"]
    args: list[Any] = [integration_id]

    def add(sql: str, value: Any) -> None:
        args.append(value)
        clauses.append(sql.replace("?", f"${len(args)}"))

    for column in ("event_id", "object_id", "delivery_id", "webhook_id", "outcome", "event_type"):
        value = getattr(filters, column)
        if value is not None:
            add(f"d.{column} = ?", value)
    if filters.since is not None:
        add("d.first_attempt_at >= ?", filters.since)
    if filters.until is not None:
        add("d.first_attempt_at < ?", filters.until)
    if cursor is not None:
        args.extend(cursor)
        clauses.append(f"(d.first_attempt_at, d.delivery_id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit + 1)
    sql = (
        f"SELECT {_COLUMNS} FROM deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id"
        f" WHERE {' AND '.join(clauses)}"
        f" ORDER BY d.first_attempt_at DESC, d.delivery_id DESC LIMIT ${len(args)}"
    )
    return sql, args


async def search_deliveries(
    conn: asyncpg.Connection | asyncpg.Pool,
    integration_id: str,
    filters: SearchFilters,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """One page: ``{"items": [...], "next_cursor": str | None}``; raises logs.CursorError."""
    position = decode_cursor(cursor, str) if cursor else None
    sql, args = build_query(integration_id, filters, limit, position)
    rows = await conn.fetch(sql, *args)
    more = len(rows) > limit
    rows = rows[:limit]
    origins = await _recovered_from(conn, [row["delivery_id"] for row in rows])
    items = []
    for row in rows:
        item = dict(row)
        item["replay_id"] = item["replay_id"] or None
        item["recovered_from"] = origins.get(item["delivery_id"])
        item["logs_url"] = (
            f"/admin/integration/{quote(integration_id, safe='')}/webhooks/{quote(item['webhook_id'], safe='')}"
            f"/logs?delivery_id={quote(item['delivery_id'], safe='')}"
        )
        items.append(item)
    last = rows[-1] if more else None
    next_cursor = encode_cursor(last["first_attempt_at"], last["delivery_id"]) if last else None
    return {"items": items, "next_cursor": next_cursor}


async def _recovered_from(conn: asyncpg.Connection | asyncpg.Pool, delivery_ids: list[str]) -> dict[str, str]:
    if not delivery_ids:
        return {}
    rows = await conn.fetch(
        "SELECT new_delivery_id, delivery_id FROM delivery_recovery_items WHERE new_delivery_id = ANY($1::text[])",
        delivery_ids,
    )
    return {row["new_delivery_id"]: row["delivery_id"] for row in rows}
