"""Liveness, readiness and Prometheus metrics (no authentication: no data behind them)."""

from __future__ import annotations

import asyncpg
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

router = APIRouter(tags=["ops"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz", summary="Readiness: PostgreSQL reachable", responses={503: {"description": "Not ready"}}
)
async def readyz(request: Request) -> JSONResponse:
    """Ready when PostgreSQL answers; reports Kafka publishing state without failing on it."""
    pool: asyncpg.Pool | None = getattr(request.app.state, "pool", None)
    db_ok = False
    if pool is not None:
        try:
            await pool.fetchval("SELECT 1", timeout=2)
            db_ok = True
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            db_ok = False
    kafka_ok = getattr(request.app.state, "producer", None) is not None
    relay = getattr(request.app.state, "relay", None)
    body = {
        "ready": db_ok,
        "database": db_ok,
        "kafka": kafka_ok and not (relay is not None and relay.failing),
    }
    return JSONResponse(body, status_code=200 if db_ok else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
