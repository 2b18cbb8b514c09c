"""SQL over the core tables, and building the ``WebhookConfigV1`` published for a webhook.

Every function takes a connection; callers own the transaction. Functions that change a webhook
also write its outbox record (see :mod:`config_api.webhooks.outbox`), so the change and its publication
commit together.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime
from typing import Any

import asyncpg

from admin_auth.tokens import record_audit
from config_api.webhooks import outbox
from contracts.base import utcnow
from contracts.webhooks import RetryPolicy, SigningSecret, WebhookConfigV1
from webhook_core.secrets_crypto import mask

WEBHOOK_COLUMNS = (
    "name, description, subscription_url, event_types, object_types, object_ids, filter, criteria, priority, auth_type, "
    "auth_encrypted, auth_hint, retry_policy, timeout_ms, max_in_flight, rate_limit_per_s, active, deactivated_reason"
)
_SELECT_WEBHOOK = (
    "SELECT w.*, i.type AS integration_type FROM webhooks w JOIN integrations i ON i.id = w.integration_id"
)


def new_webhook_id() -> str:
    """``wh_`` + 12 hex digits of milliseconds + 16 random hex digits (sorts by creation time)."""
    return f"wh_{int(time.time() * 1000):012x}{secrets.token_hex(8)}"


async def fetch_webhook(conn: asyncpg.Connection | asyncpg.Pool, webhook_id: str) -> dict[str, Any] | None:
    """One webhook row (with ``integration_type``), or None."""
    row = await conn.fetchrow(f"{_SELECT_WEBHOOK} WHERE w.id = $1", webhook_id)
    return dict(row) if row is not None else None


async def fetch_webhook_for_update(conn: asyncpg.Connection, webhook_id: str) -> dict[str, Any] | None:
    """One webhook row, locked until the end of the transaction."""
    row = await conn.fetchrow(f"{_SELECT_WEBHOOK} WHERE w.id = $1 FOR UPDATE OF w", webhook_id)
    return dict(row) if row is not None else None


async def list_webhooks(
    conn: asyncpg.Connection | asyncpg.Pool,
    integration_id: str,
    *,
    active: bool | None,
    event_type: str | None,
    after_id: str | None,
    limit: int,
    text: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of an integration's webhooks in creation order, and the total matching."""
    where = ["w.integration_id = $1"]
    args: list[Any] = [integration_id]
    if active is not None:
        args.append(active)
        where.append(f"w.active = ${len(args)}")
    if event_type is not None:
        args.append(event_type)
        where.append(f"${len(args)} = ANY(w.event_types)")
    if text:
        # Plain substring search, case-insensitive: LIKE metacharacters in the query are literal.
        args.append("%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        n = len(args)
        where.append(f"(w.name ILIKE ${n} OR w.description ILIKE ${n} OR w.subscription_url ILIKE ${n})")
    total: int = await conn.fetchval(f"SELECT count(*) FROM webhooks w WHERE {' AND '.join(where)}", *args)
    if after_id is not None:
        args.append(after_id)
        where.append(f"w.id > ${len(args)}")
    args.append(limit)
    rows = await conn.fetch(
        f"{_SELECT_WEBHOOK} WHERE {' AND '.join(where)} ORDER BY w.id LIMIT ${len(args)}", *args
    )
    return [dict(r) for r in rows], total


def _column_values(values: dict[str, Any]) -> list[Any]:
    return [values[c.strip()] for c in WEBHOOK_COLUMNS.split(",")]


async def insert_webhook(
    conn: asyncpg.Connection, webhook_id: str, integration_id: str, values: dict[str, Any]
) -> dict[str, Any]:
    """Insert a webhook (``values`` has every column of :data:`WEBHOOK_COLUMNS`)."""
    cols = [c.strip() for c in WEBHOOK_COLUMNS.split(",")]
    placeholders = ", ".join(f"${i + 3}" for i in range(len(cols)))
    await conn.execute(
        f"INSERT INTO webhooks (id, integration_id, {WEBHOOK_COLUMNS}) VALUES ($1, $2, {placeholders})",
        webhook_id,
        integration_id,
        *_column_values(values),
    )
    row = await fetch_webhook(conn, webhook_id)
    assert row is not None
    return row


async def update_webhook(conn: asyncpg.Connection, webhook_id: str, values: dict[str, Any]) -> dict[str, Any]:
    """Overwrite every column of :data:`WEBHOOK_COLUMNS` and bump ``version``."""
    cols = [c.strip() for c in WEBHOOK_COLUMNS.split(",")]
    assignments = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(cols))
    await conn.execute(
        f"UPDATE webhooks SET {assignments}, version = version + 1, updated_at = now() WHERE id = $1",
        webhook_id,
        *_column_values(values),
    )
    row = await fetch_webhook(conn, webhook_id)
    assert row is not None
    return row


async def delete_webhook(conn: asyncpg.Connection, webhook_id: str) -> None:
    """Delete a webhook and its secrets, and publish a tombstone."""
    await conn.execute("DELETE FROM webhooks WHERE id = $1", webhook_id)
    await outbox.enqueue(conn, webhook_id, None)


async def add_signing_secret(conn: asyncpg.Connection, webhook_id: str, encrypted: str) -> None:
    """Store a new current signing secret (encrypted)."""
    await conn.execute(
        "INSERT INTO webhook_signing_secrets (webhook_id, encrypted) VALUES ($1, $2)", webhook_id, encrypted
    )


async def expire_signing_secrets(conn: asyncpg.Connection, webhook_id: str, expires_at: datetime) -> None:
    """Give every secret still without an expiry (or expiring later) the expiry ``expires_at``."""
    await conn.execute(
        """UPDATE webhook_signing_secrets SET expires_at = $2
           WHERE webhook_id = $1 AND (expires_at IS NULL OR expires_at > $2)""",
        webhook_id,
        expires_at,
    )
    # Secrets expired for more than a day are dead weight in every published config.
    await conn.execute(
        "DELETE FROM webhook_signing_secrets WHERE webhook_id = $1 AND expires_at < now() - interval '1 day'",
        webhook_id,
    )


async def signing_secrets(conn: asyncpg.Connection | asyncpg.Pool, webhook_id: str) -> list[dict[str, Any]]:
    """Secrets not expired yet, newest first (the first is the current one)."""
    rows = await conn.fetch(
        """SELECT encrypted, created_at, expires_at FROM webhook_signing_secrets
           WHERE webhook_id = $1 AND (expires_at IS NULL OR expires_at > clock_timestamp()) ORDER BY id DESC""",
        webhook_id,
    )
    return [dict(r) for r in rows]


async def bump_version(conn: asyncpg.Connection, webhook_id: str) -> None:
    """Mark a change that touched only related rows (e.g. a secret rotation)."""
    await conn.execute(
        "UPDATE webhooks SET version = version + 1, updated_at = now() WHERE id = $1", webhook_id
    )


def config_from_row(row: dict[str, Any], secret_rows: list[dict[str, Any]]) -> WebhookConfigV1:
    """The published configuration of a webhook row (secrets stay encrypted)."""
    return WebhookConfigV1(
        id=row["id"],
        integration_id=row["integration_id"],
        integration_type=row["integration_type"],
        name=row["name"],
        subscription_url=row["subscription_url"],
        event_types=list(row["event_types"]),
        object_types=list(row["object_types"]) if row["object_types"] is not None else None,
        object_ids=list(row["object_ids"]) if row["object_ids"] is not None else None,
        filter=row["filter"],
        criteria=row["criteria"],
        priority=row["priority"],
        auth_type=row["auth_type"],
        auth_encrypted=row["auth_encrypted"],
        signing_secrets=[
            SigningSecret(encrypted=s["encrypted"], expires_at=s["expires_at"]) for s in secret_rows
        ],
        retry_policy=RetryPolicy.model_validate(row["retry_policy"]),
        timeout_ms=row["timeout_ms"],
        max_in_flight=row["max_in_flight"],
        rate_limit_per_s=row["rate_limit_per_s"],
        active=row["active"],
        deactivated_reason=row["deactivated_reason"],
        version=row["version"],
        updated_at=row["updated_at"],
    )


async def get_webhook_config(
    conn: asyncpg.Connection | asyncpg.Pool, webhook_id: str
) -> WebhookConfigV1 | None:
    """The configuration of a webhook as published on ``webhooks.config``, or None when unknown."""
    row = await fetch_webhook(conn, webhook_id)
    if row is None:
        return None
    return config_from_row(row, await signing_secrets(conn, webhook_id))


async def publish_webhook(conn: asyncpg.Connection, webhook_id: str) -> WebhookConfigV1:
    """Write the webhook's current configuration to the outbox (inside the caller's transaction)."""
    config = await get_webhook_config(conn, webhook_id)
    if config is None:
        raise LookupError(webhook_id)
    await outbox.enqueue(conn, webhook_id, config.to_bytes())
    return config


def hint_for_viewer(hint: Any) -> Any:
    """An auth hint as a viewer sees it: the basic-auth username masked too (half a credential)."""
    if isinstance(hint, dict) and isinstance(hint.get("username"), str):
        return {**hint, "username": mask(hint["username"])}
    return hint


def public_view(row: dict[str, Any], *, viewer: bool = False) -> dict[str, Any]:
    """The API's view of a webhook row: no ciphertexts, credentials as masked hints (for a
    ``viewer``, the basic-auth username masked as well)."""
    return {
        "id": row["id"],
        "integration_id": row["integration_id"],
        "name": row["name"],
        "description": row["description"],
        "subscription_url": row["subscription_url"],
        "event_types": list(row["event_types"]),
        "object_types": list(row["object_types"]) if row["object_types"] is not None else None,
        "object_ids": list(row["object_ids"]) if row["object_ids"] is not None else None,
        "filter": row["filter"],
        "criteria": row["criteria"],
        "priority": row["priority"],
        "auth": hint_for_viewer(row["auth_hint"]) if viewer else row["auth_hint"],
        "retry_policy": row["retry_policy"],
        "timeout_ms": row["timeout_ms"],
        "max_in_flight": row["max_in_flight"],
        "rate_limit_per_s": row["rate_limit_per_s"],
        "active": row["active"],
        "deactivated_reason": row["deactivated_reason"],
        "version": row["version"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def audit_view(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """A JSON-ready public view for the audit log."""
    if row is None:
        return None
    loaded: dict[str, Any] = json.loads(json.dumps(public_view(row), default=str))
    return loaded


async def deactivate_webhook(conn: asyncpg.Connection, webhook_id: str, reason: str, actor: str) -> bool:
    """Deactivate a webhook with a reason: row, outbox record and audit record in one transaction.

    Returns False when the webhook is unknown or already inactive (nothing is written then).
    """
    async with conn.transaction():
        before = await fetch_webhook_for_update(conn, webhook_id)
        if before is None or not before["active"]:
            return False
        await conn.execute(
            """UPDATE webhooks SET active = false, deactivated_reason = $2, version = version + 1,
               updated_at = now() WHERE id = $1""",
            webhook_id,
            reason,
        )
        after = await fetch_webhook(conn, webhook_id)
        await publish_webhook(conn, webhook_id)
        await record_audit(
            conn,
            actor,
            "webhook.deactivate",
            integration_id=before["integration_id"],
            webhook_id=webhook_id,
            before=audit_view(before),
            after=audit_view(after),
            details={"reason": reason},
        )
    return True


async def priority_rules_rows(conn: asyncpg.Connection | asyncpg.Pool) -> list[dict[str, Any]]:
    """Every integration's priority rules."""
    return [dict(r) for r in await conn.fetch("SELECT * FROM priority_rules ORDER BY integration_id")]


def now() -> datetime:
    """The current time (aware UTC)."""
    return utcnow()
