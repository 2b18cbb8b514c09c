"""API tokens (admin only): create (the token is shown once), list, revoke."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from admin_auth.tokens import create_token, record_audit
from config_api.api.deps import GlobalAdminDep, PoolDep
from config_api.errors import InvalidInputError, NotFoundError
from config_api.webhooks.schemas import TokenCreate, TokenCreated, TokenPublic, TokensPublic

router = APIRouter(prefix="/admin/tokens", tags=["tokens"])


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "id": str(row["id"])}


@router.post("", status_code=201, summary="Create an API token")
async def post_token(body: TokenCreate, pool: PoolDep, principal: GlobalAdminDep) -> TokenCreated:
    """Create a token; the answer is the only time the token itself is shown (it is stored hashed)."""
    if body.integration_ids is not None:
        known = {
            r["id"]
            for r in await pool.fetch(
                "SELECT id FROM integrations WHERE id = ANY($1::text[])", body.integration_ids
            )
        }
        for index, integration_id in enumerate(body.integration_ids):
            if integration_id not in known:
                raise InvalidInputError(
                    f"unknown integration {integration_id!r}", loc=["body", "integration_ids", index]
                )
    async with pool.acquire() as conn, conn.transaction():
        token, row = await create_token(conn, body.name, body.role, body.integration_ids, principal.name)
        await record_audit(
            conn,
            principal.name,
            "token.create",
            after={
                "id": str(row["id"]),
                "name": body.name,
                "role": body.role,
                "integration_ids": body.integration_ids,
            },
        )
    return TokenCreated.model_validate({**_public(row), "token": token})


@router.get("", summary="List API tokens")
async def get_tokens(pool: PoolDep, principal: GlobalAdminDep) -> TokensPublic:
    """Every token's metadata, newest first (never the token)."""
    rows = await pool.fetch(
        """SELECT id, name, role, integration_ids, created_by, created_at, revoked_at
           FROM api_tokens ORDER BY created_at DESC"""
    )
    return TokensPublic(items=[TokenPublic.model_validate(_public(dict(r))) for r in rows])


@router.delete(
    "/{token_id}", status_code=204, summary="Revoke an API token", responses={404: {"description": "Unknown"}}
)
async def delete_token(token_id: str, pool: PoolDep, principal: GlobalAdminDep) -> Response:
    """Revoke a token at once; later requests with it get 401."""
    try:
        parsed = uuid.UUID(token_id)
    except ValueError:
        raise NotFoundError(f"token {token_id!r} not found", loc=["path", "token_id"]) from None
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING name, role",
            parsed,
        )
        if row is None:
            raise NotFoundError(f"token {token_id!r} not found or already revoked", loc=["path", "token_id"])
        await record_audit(
            conn,
            principal.name,
            "token.revoke",
            details={"id": token_id, "name": row["name"], "role": row["role"]},
        )
    return Response(status_code=204)
