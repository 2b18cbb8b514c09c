"""The composition root: ``create_app(settings)`` builds the FastAPI app and, in its lifespan, every
long-lived resource exactly once (asyncpg pool, Kafka producer, SecretBox, aiohttp session,
background tasks).

``app.state`` is a typed :class:`~config_api.state.ApiState`. The outbox relay, the results ingest,
the delivery maintenance and the recoveries are critical loops: they are registered with the state's
``supervisor``, and ``/healthz`` answers 503 once one of them died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

from admin_auth.throttle import AuthThrottle
from config_api.api.browser_headers import BrowserHeadersMiddleware
from config_api.api.routes import asyncapi, deliveries, delivery_search, health, recoveries, send_test
from config_api.api.text_guard import reject_unstorable_text
from config_api.body_limit import BodyLimitMiddleware
from config_api.db import create_pool
from config_api.deliveries.tasks import start_delivery_tasks
from config_api.errors import install_error_handlers
from config_api.metrics import HTTP
from config_api.settings import ConfigApiSettings
from config_api.state import ApiState, api_state
from config_api.webhooks.outbox import OutboxRelay
from service_kit.http_metrics import AsgiHttpMetrics
from service_kit.kafka import ensure_topics, producer_options
from service_kit.problems import document_problems
from service_kit.supervisor import LoopSupervisor
from webhook_core.dns import AsyncResolver
from webhook_core.secrets_crypto import SecretBox
from webhook_core.ssrf import Resolver

logger = logging.getLogger(__name__)

UI_DIR = Path(__file__).resolve().parent / "ui"

DESCRIPTION = """Admin API of carehooks: integrations, webhooks, secrets, test deliveries, delivery logs and
status, API tokens and the audit log. Every `/admin` route needs `Authorization: Bearer <token>`.
Errors have one shape, RFC 9457 problem details (`application/problem+json`):
`{"type", "title", "status", "detail", "errors": [{"loc": [...], "msg": "...", "type": "..."}]}`,
where `errors` names the fields at fault (empty when the problem is not about a field)."""


def _error_statuses(path: str) -> list[int]:
    """The error answers every operation of ``path`` can give."""
    if path.startswith("/admin/ui"):
        return [404]
    if path.startswith("/admin"):
        return [401, 403, 404, 413, 422, 429, 503]
    return [503] if path == "/readyz" else []


async def _start_producer(settings: ConfigApiSettings, timeout_s: float) -> AIOKafkaProducer | None:
    producer = AIOKafkaProducer(**producer_options(settings.kafka_bootstrap_servers, settings))
    try:
        await asyncio.wait_for(producer.start(), timeout_s)
    except (KafkaError, OSError, TimeoutError) as exc:
        logger.warning("Kafka not reachable yet", extra={"error": type(exc).__name__})
        # A producer that never started can still hang in stop(); do not let it block start-up.
        with contextlib.suppress(KafkaError, OSError, TimeoutError):
            await asyncio.wait_for(producer.stop(), 2.0)
        return None
    return producer


async def _keep_starting_producer(app: FastAPI, settings: ConfigApiSettings) -> None:
    state = api_state(app)
    delay = 0.2
    while state.producer is None:
        await asyncio.sleep(delay)
        state.producer = await _start_producer(settings, 10.0)
        delay = min(delay * 2, settings.outbox_retry_max_s)
    state.producer_ready.set()
    logger.info("Kafka producer started")


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Create the resources once, start the background tasks, and release everything on shutdown."""
    state = api_state(app)
    settings = state.settings
    state.box = SecretBox(settings.secrets_keys)
    state.pool = await create_pool(
        settings.database_url,
        settings.db_connect_timeout_s,
        settings.pool_min_size,
        settings.pool_max_size,
        migrate=settings.migrate_on_start,
    )
    state.http = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=settings.test_delivery_timeout_s), auto_decompress=True
    )
    state.producer_ready = asyncio.Event()
    state.producer = await _start_producer(settings, 5.0)
    tasks: list[asyncio.Task[None]] = []
    if state.producer is None:
        tasks.append(asyncio.create_task(_keep_starting_producer(app, settings), name="producer-start"))
    else:
        state.producer_ready.set()
    from config_api.webhooks.snapshot import Snapshotter  # local: imports the repository, which is heavier

    snapshotter = Snapshotter(
        state.pool,
        settings.kafka_bootstrap_servers,
        settings,
        settings.topics.webhooks_config,
        settings.kafka_fetch_max_wait_ms,
    )
    state.snapshotter = snapshotter
    relay: OutboxRelay = OutboxRelay(
        state.pool,
        settings.database_url,
        lambda: state.producer,
        settings.topics.webhooks_config,
        settings.outbox_poll_interval_s,
        settings.outbox_send_timeout_s,
        settings.outbox_retry_max_s,
        on_recovered=lambda: snapshotter.schedule_check(relay),
        # Re-creating topics a broker lost is the topics command's job unless auto-creation is on.
        ensure_topics=(
            (lambda: ensure_topics(settings.kafka_bootstrap_servers, settings.topics, settings, attempts=1))
            if settings.kafka_auto_create_topics
            else None
        ),
    )
    state.relay = relay
    tasks.append(asyncio.create_task(relay.run(), name="outbox-relay"))
    state.supervisor.watch(tasks[-1])
    tasks.append(
        asyncio.create_task(snapshotter.run_at_start(state.producer_ready, relay), name="snapshot-check")
    )
    tasks.extend(start_delivery_tasks(app))  # registers its loops with the supervisor
    try:
        yield
    finally:
        state.supervisor.stopping()
        # Every step is bounded: a task that ignores cancellation or a connection still in use
        # must not keep the process from exiting.
        await snapshotter.stop()
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=10.0)
            for task in stuck:
                logger.warning("background task did not stop in time", extra={"task": task.get_name()})
        if state.producer is not None:
            # stop() flushes queued records and would wait for an unreachable broker forever; the
            # outbox still holds whatever was not acknowledged.
            with contextlib.suppress(KafkaError, OSError, TimeoutError):
                await asyncio.wait_for(state.producer.stop(), 5.0)
        await state.http.close()
        try:
            await asyncio.wait_for(state.pool.close(), 10.0)
        except TimeoutError:
            state.pool.terminate()


def create_app(settings: ConfigApiSettings, *, resolver: Resolver | None = None) -> FastAPI:
    """Build the app; resources are created when the lifespan starts."""
    app = FastAPI(
        title="carehooks config API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(reject_unstorable_text)],
    )
    state = ApiState()
    state.settings = settings
    state.supervisor = LoopSupervisor()
    state.resolver = resolver or AsyncResolver()  # c-ares: no thread pool for a slow name to fill
    state.producer = None
    state.auth_throttle = AuthThrottle(
        settings.auth_max_failures, settings.auth_failure_window_s, settings.auth_block_s
    )
    app.state = state
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AsgiHttpMetrics, metrics=HTTP)  # outermost: it also sees the body limit's 413
    from config_api.api.routes import audit, config, integrations, me, priority_rules, tokens, webhooks

    for module in (
        health,
        integrations,
        webhooks,
        tokens,
        me,
        audit,
        config,
        priority_rules,
        deliveries,
        send_test,
        delivery_search,
        recoveries,
        asyncapi,
    ):
        app.include_router(module.router)
    index = UI_DIR / "index.html"
    index_html = ""
    if index.is_file():
        app.mount("/admin/ui", StaticFiles(directory=UI_DIR, html=True), name="admin-ui")
        index_html = index.read_text()
    else:
        # An install without the UI files still serves the API; nothing is written into the package.
        logger.warning("admin UI files missing: /admin/ui is not served", extra={"path": str(UI_DIR)})
    app.add_middleware(BrowserHeadersMiddleware, ui_prefix="/admin/ui", index_html=index_html)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(get_openapi_schema(app), _error_statuses)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def get_openapi_schema(app: FastAPI) -> dict[str, Any]:
    """FastAPI's generated document (before the problem responses are added)."""
    return get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
