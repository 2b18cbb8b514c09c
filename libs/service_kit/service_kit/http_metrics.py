"""Request count and latency of an HTTP API, by route template and status class.

The route label is the matched route's template (``/dlq/replays/{replay_id}``), never the raw
path, so ids in URLs cannot multiply time series; requests no route matched share ``unmatched``.
One definition serves the aiohttp APIs (middleware) and the FastAPI config API (ASGI middleware).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods kept as label values; a client can send any token, the rest count as ``other``."""

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


def status_class(status: int) -> str:
    """``2xx``, ``4xx``… for a status code (anything outside 100-599 counts as ``5xx``: a broken answer)."""
    return f"{status // 100}xx" if 100 <= status <= 599 else "5xx"


class HttpMetrics:
    """``carehooks_http_requests_total`` and ``carehooks_http_request_duration_seconds`` of one service."""

    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        self.service = service
        self.requests = Counter(
            "carehooks_http_requests_total",
            "HTTP requests answered, by route template, method and status class.",
            ["service", "route", "method", "status_class"],
            registry=registry,
        )
        self.duration = Histogram(
            "carehooks_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["service", "route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        method = method if method in METHODS else "other"
        self.requests.labels(self.service, route, method, status_class(status)).inc()
        self.duration.labels(self.service, route, method).observe(seconds)

    def aiohttp_middleware(self) -> Callable[..., Awaitable[web.StreamResponse]]:
        """An aiohttp middleware recording every request (put it first: it sees the final status)."""

        @web.middleware
        async def middleware(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            started = time.perf_counter()
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                self.observe(_aiohttp_route(request), request.method, status, time.perf_counter() - started)

        return middleware


def _aiohttp_route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    if resource is None or request.match_info.http_exception is not None:
        return UNMATCHED
    return resource.canonical


class AsgiHttpMetrics:
    """ASGI middleware for Starlette/FastAPI: the route is ``scope["route"].path`` set by the router."""

    def __init__(self, app: Asgi, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            route = getattr(scope.get("route"), "path", None)
            self.metrics.observe(
                route if isinstance(route, str) else UNMATCHED,
                str(scope.get("method", "")),
                status,
                time.perf_counter() - started,
            )
