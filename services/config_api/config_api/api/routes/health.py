"""Liveness, readiness and Prometheus metrics (no authentication: no data behind them).

``/healthz`` is the shared answer of :mod:`service_kit.probes` (the other services serve it from
``service_kit.ops_http.OpsServer``): 503 once a critical background loop died. ``/readyz`` checks
PostgreSQL; ``/metrics`` refreshes the webhook-state gauges at each scrape.
"""

from __future__ import annotations

import logging

import asyncpg
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from config_api.metrics import BASE, REGISTRY, refresh_webhook_states
from config_api.state import api_state
from service_kit.probes import Probes

router = APIRouter(tags=["ops"])
logger = logging.getLogger(__name__)

_DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def _probes(request: Request) -> Probes:
    return Probes(api_state(request.app).supervisor, lambda: True, REGISTRY)


@router.get(
    "/healthz",
    summary="Liveness: every background loop runs",
    responses={503: {"description": "A critical loop died; the process exits after LOOP_EXIT_GRACE_S"}},
)
async def healthz(request: Request) -> JSONResponse:
    """200 while the outbox relay, the results ingest, the delivery maintenance and the recoveries
    run; 503 naming the dead ones otherwise."""
    answer = _probes(request).healthz()
    return JSONResponse(answer.body, status_code=answer.status)


async def _readiness(request: Request) -> dict[str, bool]:
    pool: asyncpg.Pool | None = getattr(request.app.state, "pool", None)  # None before the lifespan ran
    db_ok = False
    if pool is not None:
        try:
            await pool.fetchval("SELECT 1", timeout=2)
            db_ok = True
        except _DB_ERRORS:
            db_ok = False
    kafka_ok = getattr(request.app.state, "producer", None) is not None
    relay = getattr(request.app.state, "relay", None)
    BASE.set_ready(db_ok)
    return {
        "ready": db_ok,
        "database": db_ok,
        "kafka": kafka_ok and not (relay is not None and relay.failing),
    }


@router.get(
    "/readyz", summary="Readiness: PostgreSQL reachable", responses={503: {"description": "Not ready"}}
)
async def readyz(request: Request) -> JSONResponse:
    """Ready when PostgreSQL answers; reports Kafka publishing state without failing on it."""
    body = await _readiness(request)
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text format (readiness and webhook states are measured at each scrape)."""
    if (await _readiness(request))["ready"]:
        try:
            await refresh_webhook_states(request.app.state.pool)
        except _DB_ERRORS as exc:
            logger.warning("webhook states not refreshed", extra={"error": type(exc).__name__})
    body, content_type = _probes(request).metrics()
    return Response(body, media_type=content_type)
