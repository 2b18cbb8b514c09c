"""The audit log (who changed what, before/after with secrets masked)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from config_api.api.deps import PoolDep, ViewerDep
from config_api.errors import NotFoundError
from config_api.webhooks.repository import hint_for_viewer
from config_api.webhooks.schemas import AuditPublic, AuditRecord

router = APIRouter(prefix="/admin", tags=["audit"])


@router.get("/audit", summary="Audit log")
async def get_audit(
    pool: PoolDep,
    principal: ViewerDep,
    integration_id: Annotated[str | None, Query(max_length=200)] = None,
    webhook_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPublic:
    """Newest first. A token scoped to integrations sees only their records."""
    where: list[str] = []
    args: list[Any] = []
    if integration_id is not None:
        if not principal.can_access(integration_id):
            raise NotFoundError(f"integration {integration_id!r} not found", loc=["query", "integration_id"])
        args.append(integration_id)
        where.append(f"integration_id = ${len(args)}")
    elif principal.integration_ids is not None:
        args.append(sorted(principal.integration_ids))
        where.append(f"integration_id = ANY(${len(args)}::text[])")
    if webhook_id is not None:
        args.append(webhook_id)
        where.append(f"webhook_id = ${len(args)}")
    args.append(limit)
    sql = "SELECT * FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY id DESC LIMIT ${len(args)}"
    rows = await pool.fetch(sql, *args)
    records = [AuditRecord.model_validate(dict(r)) for r in rows]
    if not principal.has_role("operator"):
        records = [_for_viewer(r) for r in records]
    return AuditPublic(items=records)


def _for_viewer(record: AuditRecord) -> AuditRecord:
    """The record with basic-auth usernames in its before/after views masked."""
    changes: dict[str, Any] = {}
    for side in ("before", "after"):
        view = getattr(record, side)
        if isinstance(view, dict) and "auth" in view:
            changes[side] = {**view, "auth": hint_for_viewer(view["auth"])}
    return record.model_copy(update=changes) if changes else record
