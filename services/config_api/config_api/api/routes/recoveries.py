"""Bulk recovery of a webhook's failed deliveries, and its progress."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from config_api.api.deps import OperatorDep, PoolDep, SettingsDep, ViewerDep
from config_api.api.routes.deliveries import IntegrationId, WebhookId, utc_window, webhook_of
from config_api.deliveries.recovery import (
    RECOVERABLE,
    RecoveryRequest,
    create_recovery,
    get_recovery,
    list_recoveries,
)
from config_api.deliveries.schemas import Recovery, RecoveryList, RecoveryRequestBody
from config_api.errors import ConflictError, NotFoundError

router = APIRouter(prefix="/admin/integration/{integration_id}/webhooks/{webhook_id}", tags=["deliveries"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown integration, webhook or recovery (or out of the token's scope)."}
}
_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or unknown token."},
    403: {"description": "The token's role is too low."},
}


@router.post(
    "/recover",
    response_model=Recovery,
    status_code=202,
    responses={
        **_AUTH,
        **_NOT_FOUND,
        409: {"description": "The webhook is inactive: re-activate it first."},
        422: {"description": "Bad window, outcome or rate (the field is named)."},
    },
)
async def recover(
    integration_id: IntegrationId,
    webhook_id: WebhookId,
    body: RecoveryRequestBody,
    request: Request,
    pool: PoolDep,
    settings: SettingsDep,
    principal: OperatorDep,
) -> dict[str, Any]:
    """Send again, once each, the webhook's failed deliveries first attempted since `since`.

    Each goes through the normal worker path with its own new delivery id (see `recovered_from` in
    the delivery search), paced at `rate_per_s`. Follow the progress at `progress_url`; a second
    recovery of the same window sends nothing unless `force`. Operators and admins.
    """
    row = await webhook_of(pool, principal, integration_id, webhook_id)
    if not row["active"]:
        raise ConflictError(
            f"webhook {webhook_id!r} is inactive ({row['deactivated_reason'] or 'deactivated'}); re-activate it first",
            loc=["path", "webhook_id"],
        )
    since, until = utc_window(body.since, body.until, "body")
    assert since is not None  # required in the body
    recovery = await create_recovery(
        pool,
        RecoveryRequest(
            integration_id=integration_id,
            webhook_id=webhook_id,
            requested_by=principal.name,
            since=since,
            until=until,
            outcomes=[body.outcome] if body.outcome else list(RECOVERABLE),
            force=body.force,
            rate_per_s=body.rate_per_s or settings.recovery_rate_per_s,
        ),
    )
    request.app.state.recovery_runner.wake()
    return recovery


@router.get("/recoveries", response_model=RecoveryList, responses={**_AUTH, **_NOT_FOUND})
async def get_recoveries(
    integration_id: IntegrationId, webhook_id: WebhookId, pool: PoolDep, principal: ViewerDep
) -> dict[str, Any]:
    """The webhook's latest 50 recoveries, newest first."""
    await webhook_of(pool, principal, integration_id, webhook_id)
    return {"items": await list_recoveries(pool, webhook_id)}


@router.get("/recoveries/{recovery_id}", response_model=Recovery, responses={**_AUTH, **_NOT_FOUND})
async def get_recovery_progress(
    integration_id: IntegrationId,
    webhook_id: WebhookId,
    recovery_id: Annotated[str, Path(max_length=200, pattern=r"^[^\x00]*$")],
    pool: PoolDep,
    principal: ViewerDep,
) -> dict[str, Any]:
    """One recovery and its progress (sent, skipped, pending, state)."""
    await webhook_of(pool, principal, integration_id, webhook_id)
    found = await get_recovery(pool, webhook_id, recovery_id)
    if found is None:
        raise NotFoundError(
            f"recovery {recovery_id!r} not found for webhook {webhook_id!r}", loc=["path", "recovery_id"]
        )
    return found
