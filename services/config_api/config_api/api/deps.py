"""FastAPI dependencies: typed access to the lifespan's resources, authentication and scoping."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import aiohttp
import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from admin_auth.tokens import Principal, Role, authenticate
from config_api.errors import ForbiddenError, NotFoundError, TooManyRequestsError, UnauthorizedError
from config_api.settings import ConfigApiSettings
from config_api.state import api_state
from webhook_core.secrets_crypto import SecretBox
from webhook_core.ssrf import Resolver

_bearer = HTTPBearer(auto_error=False, description="An admin API token (`Authorization: Bearer <token>`).")


def get_pool(request: Request) -> asyncpg.Pool:
    """The asyncpg pool created in the lifespan."""
    return api_state(request.app).pool


def get_settings(request: Request) -> ConfigApiSettings:
    """The settings the app was built with."""
    return api_state(request.app).settings


def get_box(request: Request) -> SecretBox:
    """The SecretBox (AES-GCM with WEBHOOK_SECRETS_KEY)."""
    return api_state(request.app).box


def get_producer(request: Request) -> AIOKafkaProducer | None:
    """The started Kafka producer, or None while Kafka has been unreachable since start-up."""
    return api_state(request.app).producer


def get_http(request: Request) -> aiohttp.ClientSession:
    """The shared aiohttp session for outbound test deliveries."""
    return api_state(request.app).http


def get_resolver(request: Request) -> Resolver:
    """The DNS resolver used by the SSRF check (tests inject a stub)."""
    return api_state(request.app).resolver


PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
SettingsDep = Annotated[ConfigApiSettings, Depends(get_settings)]
BoxDep = Annotated[SecretBox, Depends(get_box)]
ProducerDep = Annotated[AIOKafkaProducer | None, Depends(get_producer)]
HttpDep = Annotated[aiohttp.ClientSession, Depends(get_http)]
ResolverDep = Annotated[Resolver, Depends(get_resolver)]


_AUTHORIZATION = ["header", "Authorization"]


def _unauthorized(msg: str) -> UnauthorizedError:
    return UnauthorizedError(msg, loc=_AUTHORIZATION)


def _throttled(seconds: int) -> TooManyRequestsError:
    msg = f"too many failed authentications from this client; retry in {seconds} s"
    return TooManyRequestsError(msg, seconds, loc=_AUTHORIZATION)


async def get_principal(
    request: Request,
    pool: PoolDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from the bearer token (401 when missing, malformed or unknown; 429 with
    Retry-After once this client has failed too often)."""
    throttle = api_state(request.app).auth_throttle
    client = request.client.host if request.client else "unknown"
    now = time.monotonic()
    wait = throttle.retry_after(client, now)
    if wait is not None:
        raise _throttled(wait)
    if credentials is None or not credentials.credentials:
        raise _unauthorized("missing bearer token")  # not counted: the UI's first call has no token
    token = credentials.credentials
    principal = None if len(token) > 512 else await authenticate(pool, token, settings.admin_token_value)
    if principal is None:
        wait = throttle.failed(client, now)
        if wait is not None:
            raise _throttled(wait)
        raise _unauthorized("unknown or revoked token")
    throttle.succeeded(client)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that answers 403 unless the caller's role is at least ``role``."""

    async def dependency(principal: PrincipalDep) -> Principal:
        if not principal.has_role(role):
            raise ForbiddenError(
                f"this action needs the {role} role; the token has {principal.role}", loc=_AUTHORIZATION
            )
        return principal

    return dependency


async def require_global_admin(principal: Annotated[Principal, Depends(require("admin"))]) -> Principal:
    """An admin whose token is not limited to some integrations (tokens, new integrations, resync):
    a scoped admin must not be able to mint an unscoped token."""
    if principal.integration_ids is not None:
        raise ForbiddenError(
            "this action needs an admin token that is not limited to integrations", loc=_AUTHORIZATION
        )
    return principal


GlobalAdminDep = Annotated[Principal, Depends(require_global_admin)]
ViewerDep = Annotated[Principal, Depends(require("viewer"))]
OperatorDep = Annotated[Principal, Depends(require("operator"))]
AdminDep = Annotated[Principal, Depends(require("admin"))]


async def integration_for(
    conn: asyncpg.Pool | asyncpg.Connection, principal: Principal, integration_id: str
) -> dict[str, Any]:
    """The integration row, or 404 when it is unknown or outside the token's scope."""
    if principal.can_access(integration_id):
        row = await conn.fetchrow("SELECT * FROM integrations WHERE id = $1", integration_id)
        if row is not None:
            return dict(row)
    raise NotFoundError(f"integration {integration_id!r} not found", loc=["path", "integration_id"])
