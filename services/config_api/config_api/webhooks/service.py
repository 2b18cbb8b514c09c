"""Webhook use cases: create, replace, patch, delete, rotate and read secrets.

Validation (which may resolve DNS and, with ``verify``, make an HTTP request) runs before the
transaction; the row, its outbox record and its audit record are then written in one transaction.
"""

from __future__ import annotations

import json
import secrets as pysecrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg

from admin_auth.tokens import Principal, record_audit
from config_api.errors import InvalidInputError, NotFoundError
from config_api.settings import ConfigApiSettings
from config_api.webhooks import repository as repo
from config_api.webhooks.rules import (
    check_auth_header_name,
    check_criteria,
    check_event_types,
    check_filter,
    check_object_types,
    check_subscription_url,
    credentials_must_drop,
    ssrf_policy,
)
from config_api.webhooks.schemas import WebhookCreate, WebhookPatch
from contracts.webhooks import BasicAuth, BearerAuth, HeaderAuth, NoAuth, RetryPolicy
from webhook_core.secrets_crypto import SecretBox, generate_signing_secret
from webhook_core.sending import build_headers, send_webhook
from webhook_core.signing import secret_bytes
from webhook_core.ssrf import Resolver, SsrfPolicy
from webhook_core.urls import sanitize_url
from webhook_core.webhook_secrets import auth_hint, decrypt_auth, encrypt_auth, secret_context

Auth = NoAuth | BasicAuth | BearerAuth | HeaderAuth

# Fields a PATCH may set to null (clearing them); the others need a value.
NULLABLE = frozenset({"object_types", "object_ids", "filter", "criteria", "rate_limit_per_s"})


@dataclass(frozen=True)
class WebhookDeps:
    """What the use cases need besides the database."""

    box: SecretBox
    settings: ConfigApiSettings
    resolver: Resolver
    http: aiohttp.ClientSession

    @property
    def policy(self) -> SsrfPolicy:
        """The SSRF policy from ``WEBHOOK_ALLOWED_NETWORKS`` and ``WEBHOOK_ALLOWED_PORTS``."""
        return ssrf_policy(self.settings)


def _spec_from_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": row["name"],
        "description": row["description"],
        "subscription_url": row["subscription_url"],
        "event_types": list(row["event_types"]),
        "object_types": row["object_types"],
        "object_ids": row["object_ids"],
        "filter": row["filter"],
        "criteria": row["criteria"],
        "priority": row["priority"],
        "retry_policy": RetryPolicy.model_validate(row["retry_policy"]),
        "timeout_ms": row["timeout_ms"],
        "max_in_flight": row["max_in_flight"],
        "rate_limit_per_s": row["rate_limit_per_s"],
        "active": row["active"],
    }


async def _validated(
    deps: WebhookDeps, integration: dict[str, Any], spec: dict[str, Any], current: dict[str, Any] | None
) -> dict[str, Any]:
    """Column values (without auth) of a validated spec."""
    url = spec["subscription_url"]
    host = None
    if current is None or sanitize_url(url) != current["subscription_url"]:
        url, host = await check_subscription_url(
            url, allow_http=deps.settings.webhook_allow_http, policy=deps.policy, resolver=deps.resolver
        )
    event_types = check_event_types(spec["event_types"], integration)
    object_types = check_object_types(spec["object_types"], integration)
    check_filter(spec["filter"])
    check_criteria(spec["criteria"], integration)
    name = spec["name"] or (current["name"] if current else None) or host or url
    if current is None or spec["active"] == current["active"]:
        reason = current["deactivated_reason"] if current else None
    else:
        reason = None if spec["active"] else "deactivated through the API"
    object_ids = spec["object_ids"]
    return {
        "name": name[:200],
        "description": spec["description"] if spec["description"] is not None else "",
        "subscription_url": url,
        "event_types": event_types,
        "object_types": object_types,
        "object_ids": list(dict.fromkeys(object_ids)) if object_ids is not None else None,
        "filter": spec["filter"],
        "criteria": spec["criteria"],
        "priority": spec["priority"],
        "retry_policy": spec["retry_policy"].model_dump(),
        "timeout_ms": spec["timeout_ms"],
        "max_in_flight": spec["max_in_flight"],
        "rate_limit_per_s": spec["rate_limit_per_s"],
        "active": spec["active"],
        "deactivated_reason": reason,
    }


def _auth_columns(box: SecretBox, webhook_id: str, auth: Auth) -> dict[str, Any]:
    return {
        "auth_type": auth.type,
        "auth_encrypted": encrypt_auth(box, webhook_id, auth),
        "auth_hint": auth_hint(auth),
    }


async def verify_endpoint(
    deps: WebhookDeps, url: str, webhook_id: str, signing: list[str], auth: Auth, timeout_ms: int
) -> None:
    """Send one signed verification delivery; 422 (naming ``verify``) unless the endpoint answers 2xx."""
    body = json.dumps(
        {"type": "webhook.verification", "webhook_id": webhook_id, "timestamp": int(time.time())},
        separators=(",", ":"),
    ).encode()
    message_id = "msg_verify_" + pysecrets.token_hex(8)
    headers = build_headers(message_id, int(time.time()), body, signing, auth)
    result = await send_webhook(
        deps.http,
        url,
        body,
        headers,
        timeout_ms / 1000,
        deps.policy,
        deps.settings.webhook_allow_http,
        resolver=deps.resolver,
    )
    if not result.success:
        what = (
            f"HTTP {result.status_code}" if result.status_code is not None else (result.error or "no answer")
        )
        raise InvalidInputError(
            f"verification delivery to subscription_url failed ({result.error_category}: {what}); nothing was changed",
            loc=["query", "verify"],
            error_type="verification_failed",
        )


async def _audit(
    conn: asyncpg.Connection,
    principal: Principal,
    action: str,
    integration_id: str,
    webhook_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    details: dict[str, Any] | None = None,
) -> None:
    await record_audit(
        conn,
        principal.name,
        action,
        integration_id=integration_id,
        webhook_id=webhook_id,
        before=repo.audit_view(before),
        after=repo.audit_view(after),
        details=details,
    )


async def get_webhook_row(
    conn: asyncpg.Pool | asyncpg.Connection, integration_id: str, webhook_id: str
) -> dict[str, Any]:
    """The webhook, or 404 when unknown or of another integration."""
    row = await repo.fetch_webhook(conn, webhook_id)
    if row is None or row["integration_id"] != integration_id:
        raise NotFoundError(
            f"webhook {webhook_id!r} not found in integration {integration_id!r}", loc=["path", "webhook_id"]
        )
    return row


async def check_webhook(
    pool: asyncpg.Pool,
    deps: WebhookDeps,
    integration: dict[str, Any],
    body: WebhookCreate,
    webhook_id: str | None,
) -> dict[str, Any]:
    """Validate a full webhook body exactly as create (or, with ``webhook_id``, replace) would, and
    write nothing: the admin form shows the server's own verdict next to each field before saving."""
    current = await get_webhook_row(pool, integration["id"], webhook_id) if webhook_id else None
    spec = body.model_dump(exclude={"auth"})
    spec["retry_policy"] = body.retry_policy
    values = await _validated(deps, integration, spec, current)
    check_auth_header_name(body.auth or NoAuth())
    return values


async def create_webhook(
    pool: asyncpg.Pool,
    deps: WebhookDeps,
    integration: dict[str, Any],
    body: WebhookCreate,
    principal: Principal,
    verify: bool,
) -> tuple[dict[str, Any], str]:
    """Create a webhook with a new signing secret; returns (row, plaintext secret)."""
    spec = body.model_dump(exclude={"auth"})
    spec["retry_policy"] = body.retry_policy
    values = await _validated(deps, integration, spec, None)
    auth: Auth = body.auth or NoAuth()
    check_auth_header_name(auth)
    webhook_id = repo.new_webhook_id()
    secret = generate_signing_secret()
    if verify:
        await verify_endpoint(
            deps, values["subscription_url"], webhook_id, [secret], auth, values["timeout_ms"]
        )
    values.update(_auth_columns(deps.box, webhook_id, auth))
    async with pool.acquire() as conn, conn.transaction():
        await repo.insert_webhook(conn, webhook_id, integration["id"], values)
        await repo.add_signing_secret(conn, webhook_id, deps.box.encrypt(secret, secret_context(webhook_id)))
        await repo.publish_webhook(conn, webhook_id)
        row = await repo.fetch_webhook(conn, webhook_id)
        assert row is not None
        await _audit(conn, principal, "webhook.create", integration["id"], webhook_id, None, row)
    return row, secret


async def _save(
    pool: asyncpg.Pool,
    deps: WebhookDeps,
    integration: dict[str, Any],
    current: dict[str, Any],
    spec: dict[str, Any],
    auth: Auth | None,
    principal: Principal,
    verify: bool,
    action: str,
) -> dict[str, Any]:
    webhook_id = current["id"]
    values = await _validated(deps, integration, spec, current)
    details: dict[str, Any] | None = None
    if (
        auth is None
        and current["auth_type"] != "none"
        and credentials_must_drop(current["subscription_url"], values["subscription_url"])
    ):
        # Stored credentials were given for one origin; retries and replays must not carry them to
        # another one. New credentials in the same request are kept (the caller chose them).
        auth = NoAuth()
        details = {"auth_dropped": True, "reason": "subscription_url changed origin (scheme, host or port)"}
    if auth is not None:
        check_auth_header_name(auth)
        values.update(_auth_columns(deps.box, webhook_id, auth))
    else:
        values.update({k: current[k] for k in ("auth_type", "auth_encrypted", "auth_hint")})
    if verify:
        plain_auth = auth or decrypt_auth(deps.box, webhook_id, current["auth_encrypted"])
        stored = await repo.signing_secrets(pool, webhook_id)
        signing = [deps.box.decrypt(s["encrypted"], secret_context(webhook_id)) for s in stored]
        await verify_endpoint(
            deps, values["subscription_url"], webhook_id, signing, plain_auth, values["timeout_ms"]
        )
    async with pool.acquire() as conn, conn.transaction():
        before = await repo.fetch_webhook_for_update(conn, webhook_id)
        if before is None:
            raise NotFoundError(f"webhook {webhook_id!r} was deleted meanwhile", loc=["path", "webhook_id"])
        row = await repo.update_webhook(conn, webhook_id, values)
        await repo.publish_webhook(conn, webhook_id)
        await _audit(conn, principal, action, integration["id"], webhook_id, before, row, details)
    return row


async def replace_webhook(
    pool: asyncpg.Pool,
    deps: WebhookDeps,
    integration: dict[str, Any],
    webhook_id: str,
    body: WebhookCreate,
    principal: Principal,
    verify: bool,
) -> dict[str, Any]:
    """PUT: every field from the body (defaults for those omitted), except an omitted ``auth`` is kept."""
    current = await get_webhook_row(pool, integration["id"], webhook_id)
    spec = body.model_dump(exclude={"auth"})
    spec["retry_policy"] = body.retry_policy
    return await _save(pool, deps, integration, current, spec, body.auth, principal, verify, "webhook.update")


async def patch_webhook(
    pool: asyncpg.Pool,
    deps: WebhookDeps,
    integration: dict[str, Any],
    webhook_id: str,
    body: WebhookPatch,
    principal: Principal,
    verify: bool,
) -> dict[str, Any]:
    """PATCH: only the fields present in the body change."""
    current = await get_webhook_row(pool, integration["id"], webhook_id)
    spec = _spec_from_row(current)
    for field in body.model_fields_set:
        value = getattr(body, field)
        if value is None and field not in NULLABLE:
            hint = ' (use {"type": "none"} to remove auth)' if field == "auth" else ""
            raise InvalidInputError(
                f"{field} may not be null{hint}", loc=["body", field], error_type="null_not_allowed"
            )
        if field != "auth":
            spec[field] = value
    auth = body.auth if "auth" in body.model_fields_set else None
    return await _save(pool, deps, integration, current, spec, auth, principal, verify, "webhook.update")


async def delete_webhook(
    pool: asyncpg.Pool, integration_id: str, webhook_id: str, principal: Principal
) -> None:
    """Delete a webhook, publish its tombstone, audit."""
    async with pool.acquire() as conn, conn.transaction():
        before = await repo.fetch_webhook_for_update(conn, webhook_id)
        if before is None or before["integration_id"] != integration_id:
            raise NotFoundError(
                f"webhook {webhook_id!r} not found in integration {integration_id!r}",
                loc=["path", "webhook_id"],
            )
        await repo.delete_webhook(conn, webhook_id)
        await _audit(conn, principal, "webhook.delete", integration_id, webhook_id, before, None)
    # Test and verification deliveries memoise decoded signing keys; none may outlive its webhook.
    # The memo is keyed by secret, not webhook, so it is emptied (cheap: this process signs rarely).
    secret_bytes.cache_clear()


async def rotate_secret(
    pool: asyncpg.Pool,
    box: SecretBox,
    integration_id: str,
    webhook_id: str,
    grace_period_s: int,
    principal: Principal,
) -> dict[str, Any]:
    """New current secret; older ones stay valid for ``grace_period_s``. Returns the secrets view."""
    secret = generate_signing_secret()
    async with pool.acquire() as conn, conn.transaction():
        before = await repo.fetch_webhook_for_update(conn, webhook_id)
        if before is None or before["integration_id"] != integration_id:
            raise NotFoundError(
                f"webhook {webhook_id!r} not found in integration {integration_id!r}",
                loc=["path", "webhook_id"],
            )
        expires_at = repo.now() + timedelta(seconds=grace_period_s)
        await repo.expire_signing_secrets(conn, webhook_id, expires_at)
        await repo.add_signing_secret(conn, webhook_id, box.encrypt(secret, secret_context(webhook_id)))
        await repo.bump_version(conn, webhook_id)
        await repo.publish_webhook(conn, webhook_id)
        after = await repo.fetch_webhook(conn, webhook_id)
        await _audit(
            conn,
            principal,
            "webhook.secret.rotate",
            integration_id,
            webhook_id,
            before,
            after,
            {"grace_period_s": grace_period_s, "old_secrets_expire_at": expires_at.isoformat()},
        )
        return await secrets_view(conn, box, webhook_id)


async def secrets_view(
    conn: asyncpg.Connection | asyncpg.Pool, box: SecretBox, webhook_id: str
) -> dict[str, Any]:
    """The decrypted secrets still valid, current first."""
    rows = await repo.signing_secrets(conn, webhook_id)
    items = [
        {
            "secret": box.decrypt(r["encrypted"], secret_context(webhook_id)),
            "created_at": r["created_at"],
            "expires_at": r["expires_at"],
        }
        for r in rows
    ]
    current = next(
        (i["secret"] for i in items if i["expires_at"] is None), items[0]["secret"] if items else ""
    )
    return {"webhook_id": webhook_id, "secret": current, "secrets": items}
