"""Priority-contact rules of an integration (published as ``priority-rules/<id>`` on webhooks.config)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from admin_auth.tokens import record_audit
from config_api.api.deps import AdminDep, PoolDep, ViewerDep, integration_for
from config_api.webhooks import outbox
from config_api.webhooks.rules import check_event_types
from config_api.webhooks.schemas import PriorityRulesPublic, PriorityRulesUpdate
from config_api.webhooks.snapshot import rules_message
from contracts.webhooks import PriorityRulesV1, priority_rules_key

router = APIRouter(prefix="/admin/integration/{integration_id}/priority-rules", tags=["priority rules"])
_404: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown integration (or outside the token's scope)"}
}


@router.get("", summary="Get priority rules", responses=_404)
async def get_rules(integration_id: str, pool: PoolDep, principal: ViewerDep) -> PriorityRulesPublic:
    """The integration's rules (empty when none were set)."""
    await integration_for(pool, principal, integration_id)
    row = await pool.fetchrow("SELECT * FROM priority_rules WHERE integration_id = $1", integration_id)
    if row is None:
        return PriorityRulesPublic(integration_id=integration_id, updated_at=None)
    return PriorityRulesPublic.model_validate(
        {**row["rules"], "integration_id": integration_id, "updated_at": row["updated_at"]}
    )


@router.put("", summary="Replace priority rules", responses=_404)
async def put_rules(
    integration_id: str, body: PriorityRulesUpdate, pool: PoolDep, principal: AdminDep
) -> PriorityRulesPublic:
    """Replace the rules; the dispatcher routes matching events to the priority lane."""
    integration = await integration_for(pool, principal, integration_id)
    rules = body.model_dump(mode="json")
    rules["event_types"] = check_event_types(body.event_types, integration)
    async with pool.acquire() as conn, conn.transaction():
        before = await conn.fetchrow(
            "SELECT rules FROM priority_rules WHERE integration_id = $1 FOR UPDATE", integration_id
        )
        row = await conn.fetchrow(
            """INSERT INTO priority_rules (integration_id, rules, updated_at) VALUES ($1, $2, now())
               ON CONFLICT (integration_id) DO UPDATE SET rules = EXCLUDED.rules, updated_at = now()
               RETURNING integration_id, rules, updated_at""",
            integration_id,
            rules,
        )
        assert row is not None
        message: PriorityRulesV1 = rules_message(dict(row))
        await outbox.enqueue(conn, priority_rules_key(integration_id), message.to_bytes())
        await record_audit(
            conn,
            principal.name,
            "priority_rules.update",
            integration_id=integration_id,
            before=before["rules"] if before else None,
            after=rules,
        )
    return PriorityRulesPublic.model_validate(
        {**rules, "integration_id": integration_id, "updated_at": row["updated_at"]}
    )
