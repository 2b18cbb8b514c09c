"""HTTP routes of the ``/dlq`` API (thin: parse, authorise, call the core, serialise) and its middlewares.

The API is an aiohttp application mounted at ``/dlq`` on the service's ops server
(``service_kit.ops_http.OpsServer``, which also serves ``/healthz``, ``/readyz`` and ``/metrics``).
Errors are RFC 9457 problems (``service_kit.problems``), as in the config API. Served with aiohttp
(not FastStream): the replayer needs per-request Kafka reads and paced, acknowledged sends rather
than a subscriber loop, so it uses raw aiokafka throughout.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ValidationError

from admin_auth.security_headers import API_CSP, COMMON_HEADERS
from admin_auth.throttle import AuthThrottle
from admin_auth.tokens import Principal, authenticate
from dlq_replayer.core import ReplayStarted
from dlq_replayer.errors import DlqError, InvalidInputError, UnavailableError
from dlq_replayer.filters import DlqFilters, build_filters, describe_validation_error
from dlq_replayer.openapi import ResumeStarted, build_openapi
from dlq_replayer.replay import ReplayOptions
from dlq_replayer.runtime import Runtime
from dlq_replayer.settings import DlqReplayerSettings
from service_kit.problems import (
    PROBLEM_JSON,
    ForbiddenError,
    Problem,
    TooManyRequestsError,
    UnauthorizedError,
    http_problem,
)

logger = logging.getLogger(__name__)


@dataclass
class ApiState:
    """What the API's handlers use: the settings, the running core (None until started), replay tasks."""

    settings: DlqReplayerSettings
    runtime: Runtime | None = None
    tasks: set[asyncio.Task[object]] = field(default_factory=set)
    throttle: AuthThrottle = field(default_factory=AuthThrottle)
    on_run_end: Callable[[], None] | None = None
    """Called when a replay run's task ends (wakes the completion announcer)."""

    @property
    def core_runtime(self) -> Runtime:
        """The running core (503 before the service started it)."""
        if self.runtime is None:
            raise UnavailableError("the DLQ replayer is starting; retry shortly")
        return self.runtime


STATE = web.AppKey("state", ApiState)
PRINCIPAL = web.RequestKey("principal", Principal)

_FILTER_FIELDS = set(DlqFilters.model_fields)
_OPTION_FIELDS = set(ReplayOptions.model_fields)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> web.Response:
    """The HTTP answer carrying ``problem``."""
    return web.Response(
        body=problem.to_json(), status=problem.status, content_type=PROBLEM_JSON, headers=headers
    )


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error becomes an RFC 9457 problem with its status; never a stack trace."""
    try:
        return await handler(request)
    except DlqError as exc:
        return problem_response(exc.problem(), exc.headers or None)
    except web.HTTPException as exc:  # unknown path, wrong method
        if exc.status < 400:
            raise
        return problem_response(http_problem(exc.status, exc.reason), None)
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
        logger.warning("database unavailable", extra={"error": type(exc).__name__})
        error = UnavailableError(f"the database is unavailable ({type(exc).__name__}); retry later")
        return problem_response(error.problem(), error.headers)


def _throttled(wait: int) -> TooManyRequestsError:
    return TooManyRequestsError(f"too many failed authentications from this client; retry in {wait} s", wait)


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
    """Every ``/dlq`` route but the OpenAPI document needs a bearer token of an operator or admin
    (same tokens as the config API)."""
    if request.path == "/dlq/openapi.json":
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("missing bearer token")
    state = request.app[STATE]
    client, now = request.remote or "unknown", time.monotonic()
    wait = state.throttle.retry_after(client, now)
    if wait is not None:
        raise _throttled(wait)
    principal = await authenticate(state.core_runtime.pool, token.strip(), state.settings.admin_token_value)
    if principal is None:
        wait = state.throttle.failed(client, now)
        if wait is not None:
            raise _throttled(wait)
        raise UnauthorizedError("unknown or revoked token")
    state.throttle.succeeded(client)
    if not principal.has_role("operator"):
        raise ForbiddenError("the DLQ replayer needs an operator or admin token")
    request[PRINCIPAL] = principal
    return await handler(request)


def create_api(state: ApiState) -> web.Application:
    """The ``/dlq`` API as an aiohttp application (mounted by the service on its ops server)."""
    api = web.Application(middlewares=[problem_middleware, auth_middleware])
    api[STATE] = state
    api.add_routes(ROUTES)
    return api


def _runtime(request: web.Request) -> Runtime:
    return request.app[STATE].core_runtime


def _principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def _scope(request: web.Request, filters: DlqFilters) -> frozenset[str] | None:
    """The integrations a scoped token may see; asking for another one is a 403, not an empty answer."""
    principal = _principal(request)
    if filters.integration is not None and not principal.can_access(filters.integration):
        raise ForbiddenError("token not scoped to this integration", loc=["query", "integration"])
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


@ROUTES.get("/openapi.json")
async def openapi(_: web.Request) -> web.Response:
    """This API's OpenAPI document."""
    return web.json_response(build_openapi())


@ROUTES.get("/messages")
async def list_messages(request: web.Request) -> web.Response:
    """Dead letters matching the filters, newest first (no payloads)."""
    filters = _query_filters(request)
    return _json(await _runtime(request).core.list_messages(filters, _scope(request, filters)))


@ROUTES.get("/messages/{message_id}")
async def show_message(request: web.Request) -> web.Response:
    """One dead letter; the payload only with ?payload=true (it may hold PHI)."""
    unknown = sorted(set(request.query) - {"payload"})
    if unknown:
        raise InvalidInputError(f"unknown query parameter(s): {', '.join(unknown)}")
    core = _runtime(request).core
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


@ROUTES.get("/stats")
async def stats(request: web.Request) -> web.Response:
    """Counts by integration, webhook and error category."""
    filters = _query_filters(request)
    return _json(await _runtime(request).core.stats(filters, _scope(request, filters)))


@ROUTES.post("/replays")
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
    raw_options.setdefault("rate", request.app[STATE].settings.default_rate)
    try:
        options = ReplayOptions.model_validate(raw_options)
    except ValidationError as exc:
        raise InvalidInputError(describe_validation_error(exc)) from None
    scope = _scope(request, filters)
    core = _runtime(request).core
    prepared = await core.prepare_replay(filters, options, _principal(request).name, scope)
    if isinstance(prepared, ReplayStarted):
        return _json(prepared)
    run = await prepared.commit()
    task: asyncio.Task[object] = asyncio.create_task(run.execute(), name=f"replay:{run.replay_id}")
    _track(request.app[STATE], task)
    answer = ReplayStarted(
        dry_run=False, replay_id=run.replay_id, plan=prepared.plan, message=f"replay {run.replay_id} started"
    )
    return _json(answer, status=202)


def _track(state: ApiState, task: asyncio.Task[object]) -> None:
    tasks = state.tasks
    tasks.add(task)

    def done(t: asyncio.Task[object]) -> None:
        tasks.discard(t)
        if not t.cancelled() and t.exception() is not None:
            logger.error("replay run failed", extra={"task": t.get_name(), "error": repr(t.exception())})
        if state.on_run_end is not None:
            state.on_run_end()

    task.add_done_callback(done)


@ROUTES.get("/replays")
async def list_replays(request: web.Request) -> web.Response:
    """The latest replays with their progress."""
    raw = request.query.get("limit", "50")
    if not raw.isdigit():
        raise InvalidInputError(f"limit: {raw!r} is not a number")
    scope = _principal(request).integration_ids
    return _json(await _runtime(request).core.list_replays(int(raw), scope))


@ROUTES.get("/replays/{replay_id}")
async def show_replay(request: web.Request) -> web.Response:
    """One replay: who, when, filters, selected / replayed / skipped / failed."""
    scope = _principal(request).integration_ids
    return _json(await _runtime(request).core.get_replay(request.match_info["replay_id"], scope))


@ROUTES.post("/replays/{replay_id}/resume")
async def resume_replay(request: web.Request) -> web.Response:
    """Send what an interrupted replay has not sent yet (202), or 200 when nothing is left."""
    core = _runtime(request).core
    principal = _principal(request)
    record, run = await core.prepare_resume(
        request.match_info["replay_id"], principal.name, principal.integration_ids
    )
    if run is None:
        return _json(record)
    _track(request.app[STATE], asyncio.create_task(run.execute(), name=f"replay:{run.replay_id}"))
    return _json(ResumeStarted(replay_id=run.replay_id, resuming=len(run.entries)), status=202)
