"""Webhook CRUD and signing secrets of one integration (exact paths of the product documentation)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from admin_auth.tokens import Principal, record_audit
from config_api.api.deps import (
    AdminDep,
    BoxDep,
    HttpDep,
    PoolDep,
    ResolverDep,
    SettingsDep,
    ViewerDep,
    integration_for,
)
from config_api.errors import InvalidInputError
from config_api.webhooks import repository as repo
from config_api.webhooks import service as svc
from config_api.webhooks.schemas import (
    RotateSecret,
    SigningSecretsPublic,
    WebhookCheck,
    WebhookCreate,
    WebhookCreated,
    WebhookPatch,
    WebhookPublic,
    WebhooksPublic,
)

router = APIRouter(prefix="/admin/integration/{integration_id}/webhooks", tags=["webhooks"])
_404: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown integration or webhook (or outside the token's scope)"}
}
_WRITE: dict[int | str, dict[str, Any]] = {
    **_404,
    422: {"description": "Invalid field; `detail[].loc` names it"},
}
VerifyQuery = Annotated[
    bool, Query(description="Send one signed test delivery first; refuse the change unless it answers 2xx.")
]
WebhookIdPath = Annotated[str, "webhook id"]


def _is_viewer(principal: Principal) -> bool:
    return not principal.has_role("operator")


def _deps(box: BoxDep, settings: SettingsDep, resolver: ResolverDep, http: HttpDep) -> svc.WebhookDeps:
    return svc.WebhookDeps(box=box, settings=settings, resolver=resolver, http=http)


@router.get("", summary="List webhooks", responses=_404)
async def list_webhooks(
    integration_id: str,
    pool: PoolDep,
    principal: ViewerDep,
    active: Annotated[
        bool | None, Query(description="Only active (true) or inactive (false) webhooks.")
    ] = None,
    event_type: Annotated[
        str | None, Query(max_length=200, description="Only webhooks subscribed to this entry.")
    ] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Case-insensitive text in the name, description or URL."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=100, description="`next_cursor` of the previous page.")
    ] = None,
) -> WebhooksPublic:
    """One page of the integration's webhooks, oldest first."""
    await integration_for(pool, principal, integration_id)
    rows, total = await repo.list_webhooks(
        pool, integration_id, active=active, event_type=event_type, after_id=cursor, limit=limit + 1, text=q
    )
    page = rows[:limit]
    next_cursor = page[-1]["id"] if len(rows) > limit else None
    return WebhooksPublic(
        items=[WebhookPublic.model_validate(repo.public_view(r, viewer=_is_viewer(principal))) for r in page],
        total=total,
        next_cursor=next_cursor,
    )


@router.post("", status_code=201, summary="Create a webhook", responses=_WRITE)
async def create_webhook(
    integration_id: str,
    body: WebhookCreate,
    pool: PoolDep,
    principal: AdminDep,
    box: BoxDep,
    settings: SettingsDep,
    resolver: ResolverDep,
    http: HttpDep,
    verify: VerifyQuery = False,
) -> WebhookCreated:
    """Create a webhook; the answer carries its signing secret (shown here and by GET .../secret only)."""
    integration = await integration_for(pool, principal, integration_id)
    row, secret = await svc.create_webhook(
        pool, _deps(box, settings, resolver, http), integration, body, principal, verify
    )
    return WebhookCreated.model_validate({**repo.public_view(row), "signing_secret": secret})


@router.post("/check", summary="Validate a webhook body without saving it", responses=_WRITE)
async def check_webhook(
    integration_id: str,
    body: WebhookCreate,
    pool: PoolDep,
    principal: AdminDep,
    box: BoxDep,
    settings: SettingsDep,
    resolver: ResolverDep,
    http: HttpDep,
    webhook_id: Annotated[
        str | None, Query(max_length=100, description="Check as a replacement of this webhook.")
    ] = None,
) -> WebhookCheck:
    """Every check of create (or of PUT with ``webhook_id``), nothing written, nothing sent: 200 when the
    body would be accepted, otherwise the same 422 the save would give."""
    integration = await integration_for(pool, principal, integration_id)
    values = await svc.check_webhook(
        pool, _deps(box, settings, resolver, http), integration, body, webhook_id
    )
    return WebhookCheck(
        name=values["name"], subscription_url=values["subscription_url"], event_types=values["event_types"]
    )


@router.get("/{webhook_id}", summary="Get a webhook", responses=_404)
async def get_webhook(
    integration_id: str, webhook_id: str, pool: PoolDep, principal: ViewerDep
) -> WebhookPublic:
    """One webhook (credentials as masked hints)."""
    await integration_for(pool, principal, integration_id)
    row = await svc.get_webhook_row(pool, integration_id, webhook_id)
    return WebhookPublic.model_validate(repo.public_view(row, viewer=_is_viewer(principal)))


@router.put("/{webhook_id}", summary="Replace a webhook", responses=_WRITE)
async def replace_webhook(
    integration_id: str,
    webhook_id: str,
    body: WebhookCreate,
    pool: PoolDep,
    principal: AdminDep,
    box: BoxDep,
    settings: SettingsDep,
    resolver: ResolverDep,
    http: HttpDep,
    verify: VerifyQuery = False,
) -> WebhookPublic:
    """Replace every field (omitted ones take their defaults; an omitted `auth` keeps the stored credentials)."""
    integration = await integration_for(pool, principal, integration_id)
    row = await svc.replace_webhook(
        pool, _deps(box, settings, resolver, http), integration, webhook_id, body, principal, verify
    )
    return WebhookPublic.model_validate(repo.public_view(row))


@router.patch("/{webhook_id}", summary="Update some fields of a webhook", responses=_WRITE)
async def patch_webhook(
    integration_id: str,
    webhook_id: str,
    body: WebhookPatch,
    pool: PoolDep,
    principal: AdminDep,
    box: BoxDep,
    settings: SettingsDep,
    resolver: ResolverDep,
    http: HttpDep,
    verify: VerifyQuery = False,
) -> WebhookPublic:
    """Change only the fields given; `{"active": true}` re-activates a deactivated webhook."""
    integration = await integration_for(pool, principal, integration_id)
    row = await svc.patch_webhook(
        pool, _deps(box, settings, resolver, http), integration, webhook_id, body, principal, verify
    )
    return WebhookPublic.model_validate(repo.public_view(row))


@router.delete("/{webhook_id}", status_code=204, summary="Delete a webhook", responses=_404)
async def delete_webhook(
    integration_id: str, webhook_id: str, pool: PoolDep, principal: AdminDep
) -> Response:
    """Delete the webhook; its delivery logs stay until the retention period ends."""
    await integration_for(pool, principal, integration_id)
    await svc.delete_webhook(pool, integration_id, webhook_id, principal)
    return Response(status_code=204)


@router.get("/{webhook_id}/secret", summary="Get the signing secret (admin)", responses=_404)
async def get_secret(
    integration_id: str, webhook_id: str, pool: PoolDep, principal: AdminDep, box: BoxDep
) -> SigningSecretsPublic:
    """The current signing secret, plus older ones still inside a rotation grace period."""
    await integration_for(pool, principal, integration_id)
    await svc.get_webhook_row(pool, integration_id, webhook_id)
    view = await svc.secrets_view(pool, box, webhook_id)
    await record_audit(
        pool, principal.name, "webhook.secret.read", integration_id=integration_id, webhook_id=webhook_id
    )
    return SigningSecretsPublic.model_validate(view)


@router.post("/{webhook_id}/secret/rotate", summary="Rotate the signing secret", responses=_WRITE)
async def rotate_secret(
    integration_id: str,
    webhook_id: str,
    pool: PoolDep,
    principal: AdminDep,
    box: BoxDep,
    body: RotateSecret | None = None,
) -> SigningSecretsPublic:
    """New secret now; the old one stays valid for `grace_period_s` (default 24 h), both signatures are sent."""
    await integration_for(pool, principal, integration_id)
    grace = (body or RotateSecret()).grace_period_s
    if grace < 0:
        raise InvalidInputError("grace_period_s must be >= 0", loc=["body", "grace_period_s"])
    view = await svc.rotate_secret(pool, box, integration_id, webhook_id, grace, principal)
    return SigningSecretsPublic.model_validate(view)
