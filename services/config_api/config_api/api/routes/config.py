"""Operations on the published configuration."""

from __future__ import annotations

from fastapi import APIRouter, Request

from admin_auth.tokens import record_audit
from config_api.api.deps import GlobalAdminDep, PoolDep
from config_api.webhooks.schemas import ResyncPublic

router = APIRouter(prefix="/admin/config", tags=["config"])


@router.post("/resync", summary="Republish the whole configuration")
async def resync(request: Request, pool: PoolDep, principal: GlobalAdminDep) -> ResyncPublic:
    """Queue a full snapshot of every webhook and priority rule on `webhooks.config` (plus tombstones
    for deleted webhooks still on the topic); the outbox relay publishes it."""
    counts = await request.app.state.snapshotter.resync()
    request.app.state.relay.wake()
    await record_audit(
        pool,
        principal.name,
        "config.resync",
        details={
            "webhooks": counts.webhooks,
            "priority_rules": counts.priority_rules,
            "tombstones": counts.tombstones,
        },
    )
    return ResyncPublic(
        webhooks=counts.webhooks, priority_rules=counts.priority_rules, tombstones=counts.tombstones
    )
