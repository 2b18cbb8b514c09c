"""Liveness, readiness and Prometheus metrics (no authentication: no data behind them)."""

from __future__ import annotations

import logging

import asyncpg
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from config_api.metrics import BASE, REGISTRY, refresh_webhook_states

router = APIRouter(tags=["ops"])
logger = logging.getLogger(__name__)

_DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


async def _readiness(request: Request) -> dict[str, bool]:
    pool: asyncpg.Pool | None = getattr(request.app.state, "pool", None)
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
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
