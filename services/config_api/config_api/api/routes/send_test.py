"""Test delivery: one signed POST of a sample payload, sent synchronously through the worker's code."""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi import APIRouter

from config_api.api.deps import (
    BoxDep,
    HttpDep,
    OperatorDep,
    PoolDep,
    ResolverDep,
    SettingsDep,
    integration_for,
)
from config_api.api.routes.deliveries import IntegrationId
from config_api.deliveries.schemas import TestDeliveryRequest, TestDeliveryResult
from config_api.errors import ForbiddenError, InvalidInputError, NotFoundError
from config_api.webhooks import repository
from config_api.webhooks.catalogs import event_types_of
from config_api.webhooks.rules import ssrf_policy
from config_api.webhooks.sample_payloads import render, sample_payload
from contracts.base import utcnow
from contracts.catalogs import event_type_matches
from contracts.webhooks import NoAuth
from webhook_core.secrets_crypto import DecryptionError, generate_signing_secret
from webhook_core.sending import SendResult, build_headers, mask_headers, send_webhook
from webhook_core.urls import UrlError, sanitize_url, validate_url
from webhook_core.webhook_secrets import active_signing_secrets, decrypt_auth

router = APIRouter(prefix="/admin/integration/{integration_id}", tags=["deliveries"])


def pick_event_type(patterns: list[str], catalog: dict[str, str]) -> str | None:
    """The first catalog event type a webhook's subscription patterns match (exact entries first)."""
    for pattern in patterns:
        if pattern in catalog:
            return pattern
    for pattern in patterns:
        for name in catalog:
            if event_type_matches(pattern, name):
                return name
    return None


@router.post(
    "/webhooks/test",
    response_model=TestDeliveryResult,
    responses={
        403: {"description": "A free subscription_url needs the admin role."},
        404: {"description": "Unknown integration or webhook."},
        422: {"description": "Bad request body."},
    },
)
async def send_test_delivery(
    integration_id: IntegrationId,
    request: TestDeliveryRequest,
    pool: PoolDep,
    principal: OperatorDep,
    box: BoxDep,
    http: HttpDep,
    resolver: ResolverDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Send one signed delivery of a realistic sample payload now and report what the endpoint answered.

    Give `webhook_id` (its URL, secret, auth and timeout are used; operator role) or
    `subscription_url` and `event_type` (admin role, like setting a URL; signed with a throwaway
    secret, returned in `request.signing_secret`). A failing
    endpoint is a 200 answer with `success: false`; SSRF-blocked and unresolvable hosts are
    reported the same way, with their `error_category`.
    """
    integration = await integration_for(pool, principal, integration_id)
    catalog = event_types_of(integration)
    if (request.webhook_id is None) == (request.subscription_url is None):
        raise InvalidInputError("give either webhook_id or subscription_url (with event_type)", loc=["body"])
    if request.event_type is not None and request.event_type not in catalog:
        raise InvalidInputError(
            f"event type {request.event_type!r} is not in the catalog of integration {integration_id!r}",
            loc=["body", "event_type"],
        )
    throwaway: str | None = None
    if request.webhook_id is not None:
        config = await repository.get_webhook_config(pool, request.webhook_id)
        if config is None or config.integration_id != integration_id:
            raise NotFoundError(
                f"webhook {request.webhook_id!r} not found in integration {integration_id!r}",
                loc=["body", "webhook_id"],
            )
        event_type = request.event_type or pick_event_type(config.event_types, catalog) or "test"
        url = config.subscription_url
        try:
            secrets = active_signing_secrets(box, config)
            auth = decrypt_auth(box, config.id, config.auth_encrypted)
        except DecryptionError:
            # A key rotation gone wrong is a configuration problem to report, not a server error.
            return _answer(
                None, url, {}, "", None, "the webhook's secrets do not decrypt with WEBHOOK_SECRETS_KEY"
            )
        timeout_s = min(config.timeout_ms / 1000, settings.test_delivery_timeout_s)
    else:
        assert request.subscription_url is not None
        if not principal.has_role("admin"):
            # A free URL makes the API POST anywhere and echo the answer: the same power as setting a URL.
            raise ForbiddenError(
                "a test delivery to a free subscription_url needs the admin role (the role that may set URLs);"
                " operators test a stored webhook with webhook_id",
                loc=["body", "subscription_url"],
            )
        if request.event_type is None:
            raise InvalidInputError(
                "event_type is required with subscription_url", loc=["body", "event_type"]
            )
        try:
            url = validate_url(
                sanitize_url(request.subscription_url), allow_http=settings.webhook_allow_http
            ).url
        except UrlError as exc:
            raise InvalidInputError(str(exc), loc=["body", "subscription_url"]) from None
        event_type = request.event_type
        throwaway = generate_signing_secret()
        secrets = [throwaway]
        auth = NoAuth()
        timeout_s = settings.test_delivery_timeout_s
    body = render(sample_payload(integration["type"], integration_id, event_type, utcnow()))
    message_id = f"msg_test_{uuid.uuid4().hex}"
    try:
        headers = build_headers(message_id, int(time.time()), body.encode(), secrets, auth)
    except ValueError as exc:  # e.g. a custom auth header that collides with a reserved one
        return _answer(None, url, {}, body, throwaway, str(exc))
    result = await send_webhook(
        http,
        url,
        body.encode(),
        headers,
        timeout_s,
        ssrf_policy(settings),
        settings.webhook_allow_http,
        resolver=resolver,
    )
    return _answer(result, url, headers, body, throwaway, None)


def _answer(
    result: SendResult | None,
    url: str,
    headers: dict[str, str],
    body: str,
    secret: str | None,
    config_error: str | None,
) -> dict[str, Any]:
    echo = {"url": url, "headers": mask_headers(headers), "body": body, "signing_secret": secret}
    if result is None:
        return {
            "success": False,
            "status_code": None,
            "response_ms": 0,
            "response_body": "",
            "error": config_error,
            "error_category": "invalid_config",
            "request": echo,
        }
    return {
        "success": result.success,
        "status_code": result.status_code,
        "response_ms": result.response_ms,
        "response_body": result.response_body,
        "error": result.error,
        "error_category": result.error_category,
        "request": echo,
    }
