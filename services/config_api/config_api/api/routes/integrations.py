"""Integrations and their event-type / object-type catalogs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from config_api.api.deps import GlobalAdminDep, PoolDep, ViewerDep, integration_for
from config_api.webhooks.catalogs import (
    create_integration,
    event_types_of,
    list_integrations,
    object_types_of,
)
from config_api.webhooks.schemas import (
    CatalogItem,
    CatalogPublic,
    IntegrationCreate,
    IntegrationPublic,
    IntegrationsPublic,
)

router = APIRouter(prefix="/admin", tags=["integrations"])
_404: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown integration (or outside the token's scope)"}
}


@router.get("/integrations", summary="List integrations")
async def get_integrations(pool: PoolDep, principal: ViewerDep) -> IntegrationsPublic:
    """Integrations the token may see, with webhook counts."""
    rows = await list_integrations(pool, principal)
    return IntegrationsPublic(items=[IntegrationPublic.model_validate(r) for r in rows])


@router.post(
    "/integrations",
    status_code=201,
    summary="Create an integration",
    responses={409: {"description": "Exists"}},
)
async def post_integration(
    body: IntegrationCreate, pool: PoolDep, principal: GlobalAdminDep
) -> IntegrationPublic:
    """Create an integration; `custom` ones list their own event and object types."""
    async with pool.acquire() as conn:
        row = await create_integration(conn, body, principal)
    return IntegrationPublic.model_validate(row)


@router.get("/integration/{integration_id}", summary="Get an integration", responses=_404)
async def get_integration(integration_id: str, pool: PoolDep, principal: ViewerDep) -> IntegrationPublic:
    """One integration with webhook counts."""
    await integration_for(pool, principal, integration_id)
    rows = await list_integrations(pool, principal)
    return IntegrationPublic.model_validate(next(r for r in rows if r["id"] == integration_id))


@router.get(
    "/integration/{integration_id}/event-types", summary="Event types of an integration", responses=_404
)
async def get_event_types(integration_id: str, pool: PoolDep, principal: ViewerDep) -> CatalogPublic:
    """Each event type a webhook of this integration may subscribe to, with a one-line description."""
    integration = await integration_for(pool, principal, integration_id)
    items = [CatalogItem(name=k, description=v) for k, v in event_types_of(integration).items()]
    return CatalogPublic(integration_id=integration_id, items=items)


@router.get(
    "/integration/{integration_id}/object-types", summary="Object types of an integration", responses=_404
)
async def get_object_types(integration_id: str, pool: PoolDep, principal: ViewerDep) -> CatalogPublic:
    """Each object type a webhook may filter on, with a one-line description."""
    integration = await integration_for(pool, principal, integration_id)
    items = [CatalogItem(name=k, description=v) for k, v in object_types_of(integration).items()]
    return CatalogPublic(integration_id=integration_id, items=items)
