"""Tokens and audit against the real embedded PostgreSQL."""

from __future__ import annotations

import asyncpg
import pytest

from admin_auth.tokens import Principal, authenticate, create_token, ensure_schema, record_audit

pytestmark = pytest.mark.integration


def test_roles_and_scope() -> None:
    viewer = Principal(name="v", role="viewer", integration_ids=frozenset({"ehr"}))
    assert viewer.has_role("viewer") and not viewer.has_role("operator")
    assert viewer.can_access("ehr") and not viewer.can_access("surveymonkey")
    assert Principal(name="a", role="admin").can_access("anything")


async def test_token_roundtrip_and_audit(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await ensure_schema(conn)
        await ensure_schema(conn)  # idempotent
        token, row = await create_token(conn, "ops", "operator", ["ehr"], "tester")
        principal = await authenticate(conn, token, admin_token="boot")
        assert principal is not None and principal.role == "operator"
        assert principal.integration_ids == frozenset({"ehr"})
        assert await authenticate(conn, "chk_unknown", admin_token="boot") is None
        boot = await authenticate(conn, "boot", admin_token="boot")
        assert boot is not None and boot.role == "admin"
        stored = await conn.fetchval("SELECT token_hash FROM api_tokens WHERE id = $1", row["id"])
        assert token not in stored
        await conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = $1", row["id"])
        assert await authenticate(conn, token, admin_token="boot") is None
        await record_audit(conn, "tester", "token.create", details={"name": "ops"})
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == 1
    finally:
        await conn.close()
