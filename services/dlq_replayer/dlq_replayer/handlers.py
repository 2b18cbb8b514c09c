"""HTTP routes (thin: parse, authorise, call the core, serialise) and the auth / error middlewares.

Served with aiohttp (not FastStream): the replayer needs per-request Kafka reads and paced,
acknowledged sends rather than a subscriber loop, so it uses raw aiokafka throughout.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError

from admin_auth.security_headers import API_CSP, COMMON_HEADERS
from admin_auth.throttle import AuthThrottle
from admin_auth.tokens import Principal, authenticate
from dlq_replayer.core import ReplayStarted
from dlq_replayer.errors import ConflictError, DlqError, InvalidInputError, NotFoundError, UnavailableError
from dlq_replayer.filters import DlqFilters, build_filters, describe_validation_error
from dlq_replayer.metrics import REGISTRY
from dlq_replayer.replay import ReplayOptions
from dlq_replayer.runtime import Runtime
from dlq_replayer.settings import DlqReplayerSettings

logger = logging.getLogger(__name__)

RUNTIME = web.AppKey("runtime", Runtime)
SETTINGS = web.AppKey("settings", DlqReplayerSettings)
TASKS: web.AppKey[set[asyncio.Task[object]]] = web.AppKey("replay_tasks")
THROTTLE = web.AppKey("auth_throttle", AuthThrottle)
PRINCIPAL = "principal"

_STATUS: dict[type[DlqError], int] = {
    InvalidInputError: 422,
    NotFoundError: 404,
    ConflictError: 409,
    UnavailableError: 503,
}
_FILTER_FIELDS = set(DlqFilters.model_fields)
_OPTION_FIELDS = set(ReplayOptions.model_fields)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Operator-facing errors become JSON with their status; never a stack trace."""
    try:
        return await handler(request)
    except DlqError as exc:
        status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
        return _error(status, str(exc))
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
        logger.warning("database unavailable", extra={"error": type(exc).__name__})
        return _error(503, f"the database is unavailable ({type(exc).__name__}); retry later")


def _throttled(wait: int) -> web.Response:
    return web.json_response(
        {"error": f"too many failed authentications from this client; retry in {wait} s"},
        status=429,
        headers={"Retry-After": str(wait)},
    )


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Browser-facing defences on every answer (the API is JSON only: nothing may load or frame it)."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    for name, value in {**COMMON_HEADERS, "Content-Security-Policy": API_CSP}.items():
        response.headers.setdefault(name, value)
    if isinstance(response, web.HTTPException):
        raise response
    return response


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``/dlq`` needs a bearer token of an operator or admin (same tokens as the config API)."""
    if not request.path.startswith("/dlq"):
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return web.json_response(
            {"error": "missing bearer token"}, status=401, headers={"WWW-Authenticate": "Bearer"}
        )
    settings = request.app[SETTINGS]
    throttle = request.app[THROTTLE]
    client, now = request.remote or "unknown", time.monotonic()
    wait = throttle.retry_after(client, now)
    if wait is not None:
        return _throttled(wait)
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None
    principal = await authenticate(request.app[RUNTIME].pool, token.strip(), admin)
    if principal is None:
        wait = throttle.failed(client, now)
        if wait is not None:
            return _throttled(wait)
        return web.json_response(
            {"error": "unknown or revoked token"}, status=401, headers={"WWW-Authenticate": "Bearer"}
        )
    throttle.succeeded(client)
    if not principal.has_role("operator"):
        return _error(403, "the DLQ replayer needs an operator or admin token")
    request[PRINCIPAL] = principal
    return await handler(request)


def _principal(request: web.Request) -> Principal:
    principal: Principal = request[PRINCIPAL]
    return principal


def _scope(request: web.Request, filters: DlqFilters) -> frozenset[str] | None:
    """The integrations a scoped token may see; asking for another one is a 403, not an empty answer."""
    principal = _principal(request)
    if filters.integration is not None and not principal.can_access(filters.integration):
        raise web.HTTPForbidden(
            text=json.dumps({"error": "token not scoped to this integration"}),
            content_type="application/json",
        )
    return principal.integration_ids


def _json(model: BaseModel | list[Any], status: int = 200) -> web.Response:
    if isinstance(model, list):
        body = "[" + ",".join(m.model_dump_json() for m in model) + "]"
    else:
        body = model.model_dump_json()
    return web.Response(text=body, status=status, content_type="application/json")


def _query_filters(request: web.Request, extra: set[str] | None = None) -> DlqFilters:
    allowed = _FILTER_FIELDS | (extra or set())
    unknown = sorted(set(request.query) - allowed)
    if unknown:
        raise InvalidInputError(f"unknown query parameter(s): {', '.join(unknown)}")
    return build_filters({k: v for k, v in request.query.items() if k in _FILTER_FIELDS})


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false").lower()
    if value not in {"true", "false", "1", "0", "yes", "no"}:
        raise InvalidInputError(f"{name}: {value!r} is not true or false")
    return value in {"true", "1", "yes"}


ROUTES = web.RouteTableDef()


@ROUTES.get("/healthz")
async def healthz(_: web.Request) -> web.Response:
    """Liveness."""
    return web.json_response({"status": "ok"})


@ROUTES.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready once the webhook view caught up with webhooks.config."""
    ok = RUNTIME in request.app and request.app[RUNTIME].ready
    return web.json_response({"ready": ok}, status=200 if ok else 503)


@ROUTES.get("/metrics")
async def metrics(_: web.Request) -> web.Response:
    """Prometheus metrics."""
    return web.Response(body=generate_latest(REGISTRY), headers={"content-type": CONTENT_TYPE_LATEST})


@ROUTES.get("/dlq/messages")
async def list_messages(request: web.Request) -> web.Response:
    """Dead letters matching the filters, newest first (no payloads)."""
    filters = _query_filters(request)
    return _json(await request.app[RUNTIME].core.list_messages(filters, _scope(request, filters)))


@ROUTES.get("/dlq/messages/{message_id}")
async def show_message(request: web.Request) -> web.Response:
    """One dead letter; the payload only with ?payload=true (it may hold PHI)."""
    unknown = sorted(set(request.query) - {"payload"})
    if unknown:
        raise InvalidInputError(f"unknown query parameter(s): {', '.join(unknown)}")
    core = request.app[RUNTIME].core
    scope = _principal(request).integration_ids
    detail = await core.get_message(request.match_info["message_id"], _flag(request, "payload"), scope)
    if detail.payload_included:
        # Audited (not only logged): the payload may hold PHI, and the audit log is what reviewers read.
        await core.store.audit_payload_view(_principal(request).name, detail.message)
        logger.info(
            "dead-letter payload viewed",
            extra={"actor": _principal(request).name, "message_id": detail.message.id},
        )
    return _json(detail)


@ROUTES.get("/dlq/stats")
async def stats(request: web.Request) -> web.Response:
    """Counts by integration, webhook and error category."""
    filters = _query_filters(request)
    return _json(await request.app[RUNTIME].core.stats(filters, _scope(request, filters)))


@ROUTES.post("/dlq/replays")
async def start_replay(request: web.Request) -> web.Response:
    """Dry-run (200 with counts) or start a replay (202; it runs in the background, poll its id)."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidInputError("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise InvalidInputError("the body must be a JSON object")
    unknown = sorted(set(body) - _FILTER_FIELDS - _OPTION_FIELDS)
    if unknown:
        raise InvalidInputError(f"unknown field(s): {', '.join(unknown)}")
    filters = build_filters({k: v for k, v in body.items() if k in _FILTER_FIELDS})
    raw_options = {k: v for k, v in body.items() if k in _OPTION_FIELDS}
    raw_options.setdefault("rate", request.app[SETTINGS].default_rate)
    try:
        options = ReplayOptions.model_validate(raw_options)
    except ValidationError as exc:
        raise InvalidInputError(describe_validation_error(exc)) from None
    scope = _scope(request, filters)
    core = request.app[RUNTIME].core
    prepared = await core.prepare_replay(filters, options, _principal(request).name, scope)
    if isinstance(prepared, ReplayStarted):
        return _json(prepared)
    run = await prepared.commit()
    task: asyncio.Task[object] = asyncio.create_task(run.execute(), name=f"replay:{run.replay_id}")
    _track(request.app, task)
    answer = ReplayStarted(
        dry_run=False, replay_id=run.replay_id, plan=prepared.plan, message=f"replay {run.replay_id} started"
    )
    return _json(answer, status=202)


def _track(app: web.Application, task: asyncio.Task[object]) -> None:
    tasks = app[TASKS]
    tasks.add(task)

    def done(t: asyncio.Task[object]) -> None:
        tasks.discard(t)
        if not t.cancelled() and t.exception() is not None:
            logger.error("replay run failed", extra={"task": t.get_name(), "error": repr(t.exception())})

    task.add_done_callback(done)


@ROUTES.get("/dlq/replays")
async def list_replays(request: web.Request) -> web.Response:
    """The latest replays with their progress."""
    raw = request.query.get("limit", "50")
    if not raw.isdigit():
        raise InvalidInputError(f"limit: {raw!r} is not a number")
    scope = _principal(request).integration_ids
    return _json(await request.app[RUNTIME].core.list_replays(int(raw), scope))


@ROUTES.get("/dlq/replays/{replay_id}")
async def show_replay(request: web.Request) -> web.Response:
    """One replay: who, when, filters, selected / replayed / skipped / failed."""
    scope = _principal(request).integration_ids
    return _json(await request.app[RUNTIME].core.get_replay(request.match_info["replay_id"], scope))


@ROUTES.post("/dlq/replays/{replay_id}/resume")
async def resume_replay(request: web.Request) -> web.Response:
    """Send what an interrupted replay has not sent yet (202), or 200 when nothing is left."""
    core = request.app[RUNTIME].core
    principal = _principal(request)
    record, run = await core.prepare_resume(
        request.match_info["replay_id"], principal.name, principal.integration_ids
    )
    if run is None:
        return _json(record)
    _track(request.app, asyncio.create_task(run.execute(), name=f"replay:{run.replay_id}"))
    return web.json_response({"replay_id": run.replay_id, "resuming": len(run.entries)}, status=202)
