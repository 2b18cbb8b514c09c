"""Integrations and their catalogs (built-in for SurveyMonkey/FHIR, stored for custom ones)."""

from __future__ import annotations

from typing import Any

import asyncpg

from admin_auth.tokens import Principal, record_audit
from config_api.errors import ConflictError, InvalidInputError
from config_api.webhooks.schemas import CatalogItemIn, IntegrationCreate
from contracts.catalogs import event_catalog, object_catalog


def _stored_catalog(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}


def event_types_of(integration: dict[str, Any]) -> dict[str, str]:
    """Event type -> description for an integration row."""
    if integration["type"] == "custom":
        return _stored_catalog(integration["event_types"])
    return event_catalog(integration["type"])


def object_types_of(integration: dict[str, Any]) -> dict[str, str]:
    """Object type -> description for an integration row."""
    if integration["type"] == "custom":
        return _stored_catalog(integration["object_types"])
    return object_catalog(integration["type"])


def _catalog_in(items: list[CatalogItemIn | str] | None, field: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for index, item in enumerate(items or []):
        entry = CatalogItemIn(name=item) if isinstance(item, str) else item
        if entry.name in out:
            raise InvalidInputError(f"duplicate entry {entry.name!r}", loc=["body", field, index])
        if field == "event_types" and "*" in entry.name:
            raise InvalidInputError("event type names may not contain '*'", loc=["body", field, index])
        out[entry.name] = entry.description
    return out


async def list_integrations(
    conn: asyncpg.Pool | asyncpg.Connection, principal: Principal
) -> list[dict[str, Any]]:
    """Integrations in the token's scope with webhook counts (failing counts when part B tracks health)."""
    failing_sql = "NULL::bigint"
    has_health = await conn.fetchval("SELECT to_regclass('webhook_delivery_health') IS NOT NULL")
    if has_health:
        failing_sql = (
            "(SELECT count(*) FROM webhook_delivery_health h JOIN webhooks w2 ON w2.id = h.webhook_id "
            "WHERE w2.integration_id = i.id AND h.consecutive_failures > 0)"
        )
    rows = await conn.fetch(
        f"""SELECT i.id, i.type, i.name, i.created_at,
                   (SELECT count(*) FROM webhooks w WHERE w.integration_id = i.id) AS webhook_count,
                   (SELECT count(*) FROM webhooks w WHERE w.integration_id = i.id AND w.active) AS active_webhook_count,
                   {failing_sql} AS failing_webhook_count
            FROM integrations i ORDER BY i.created_at, i.id"""
    )
    return [dict(r) for r in rows if principal.can_access(r["id"])]


async def create_integration(
    conn: asyncpg.Connection, body: IntegrationCreate, principal: Principal
) -> dict[str, Any]:
    """Insert an integration (custom ones with their catalogs); audited."""
    if body.type != "custom" and (body.event_types or body.object_types):
        field = "event_types" if body.event_types else "object_types"
        raise InvalidInputError(
            f"only custom integrations define {field}; {body.type} integrations use the built-in catalog",
            loc=["body", field],
        )
    events = _catalog_in(body.event_types, "event_types")
    objects = _catalog_in(body.object_types, "object_types")
    if body.type == "custom" and not events:
        raise InvalidInputError(
            "a custom integration needs at least one event type", loc=["body", "event_types"]
        )
    async with conn.transaction():
        row = await conn.fetchrow(
            """INSERT INTO integrations (id, type, name, event_types, object_types)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING
               RETURNING id, type, name, created_at""",
            body.id,
            body.type,
            body.name,
            events if body.type == "custom" else None,
            objects if body.type == "custom" else None,
        )
        if row is None:
            raise ConflictError(f"integration {body.id!r} already exists", loc=["body", "id"])
        result = {**dict(row), "webhook_count": 0, "active_webhook_count": 0, "failing_webhook_count": None}
        await record_audit(
            conn,
            principal.name,
            "integration.create",
            integration_id=body.id,
            after={
                "id": body.id,
                "type": body.type,
                "name": body.name,
                "event_types": events,
                "object_types": objects,
            },
        )
    return result
