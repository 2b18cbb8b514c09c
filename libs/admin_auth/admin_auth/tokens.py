"""Tokens, roles and principals.

Tokens are random (``chk_`` + 32 bytes urlsafe) and stored only as SHA-256 hashes; a token
cannot be recovered, only revoked. ``ADMIN_TOKEN`` is a bootstrap admin that is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import asyncpg

Role = Literal["viewer", "operator", "admin"]
ADMIN_TOKEN_MIN_LENGTH = 32
"""A bootstrap token shorter than this is refused at start-up (``secrets.token_urlsafe(24)`` is 32)."""
ROLE_RANK: dict[str, int] = {"viewer": 0, "operator": 1, "admin": 2}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a name for the audit log, a role, and an optional integration scope."""

    name: str
    role: Role
    integration_ids: frozenset[str] | None = None
    token_id: str | None = None

    def has_role(self, needed: Role) -> bool:
        """Whether this principal's role is at least ``needed``."""
        return ROLE_RANK[self.role] >= ROLE_RANK[needed]

    def can_access(self, integration_id: str) -> bool:
        """Whether the token's integration scope includes this integration."""
        return self.integration_ids is None or integration_id in self.integration_ids


def check_admin_token(value: str) -> str:
    """``ADMIN_TOKEN`` as given, or ValueError when it is too short to resist guessing."""
    if len(value) < ADMIN_TOKEN_MIN_LENGTH:
        raise ValueError(
            f"must be at least {ADMIN_TOKEN_MIN_LENGTH} characters (got {len(value)}); "
            'generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
    return value


def hash_token(token: str) -> str:
    """SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def generate_token() -> str:
    """A new bearer token (shown once)."""
    return "chk_" + secrets.token_urlsafe(32)


async def ensure_schema(conn: asyncpg.Connection) -> None:
    """Create the token and audit tables if they do not exist (idempotent)."""
    sql = resources.files("admin_auth").joinpath("schema.sql").read_text()
    await conn.execute(sql)


async def authenticate(
    conn: asyncpg.Connection | asyncpg.Pool, token: str, admin_token: str | None
) -> Principal | None:
    """The principal of a bearer token, or None when it is unknown or revoked."""
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return Principal(name="bootstrap-admin", role="admin")
    row = await conn.fetchrow(
        "SELECT id, name, role, integration_ids FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        hash_token(token),
    )
    if row is None:
        return None
    ids = row["integration_ids"]
    return Principal(
        name=f"token:{row['name']}",
        role=row["role"],
        integration_ids=frozenset(ids) if ids is not None else None,
        token_id=str(row["id"]),
    )


async def create_token(
    conn: asyncpg.Connection | asyncpg.Pool,
    name: str,
    role: Role,
    integration_ids: list[str] | None,
    created_by: str,
) -> tuple[str, dict[str, Any]]:
    """Store a new token; returns (plaintext token, its row)."""
    token = generate_token()
    row = await conn.fetchrow(
        """INSERT INTO api_tokens (id, name, role, integration_ids, token_hash, created_by)
           VALUES ($1, $2, $3, $4, $5, $6)
           RETURNING id, name, role, integration_ids, created_by, created_at, revoked_at""",
        uuid.uuid4(),
        name,
        role,
        integration_ids,
        hash_token(token),
        created_by,
    )
    assert row is not None
    return token, dict(row)


async def record_audit(
    conn: asyncpg.Connection | asyncpg.Pool,
    actor: str,
    action: str,
    *,
    integration_id: str | None = None,
    webhook_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one audit record. Callers pass secret-free views (masked hints only)."""
    await conn.execute(
        """INSERT INTO audit_log (actor, action, integration_id, webhook_id, before, after, details)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb)""",
        actor,
        action,
        integration_id,
        webhook_id,
        None if before is None else json.dumps(before, default=str),
        None if after is None else json.dumps(after, default=str),
        None if details is None else json.dumps(details, default=str),
    )
