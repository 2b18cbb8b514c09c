"""Background tasks of the delivery side: the results consumer, auto-deactivation, retention, recoveries.

``app.py`` calls :func:`start_delivery_tasks` once in the lifespan, after the pool, producer,
SecretBox and settings are on ``app.state``; the returned tasks are cancelled on shutdown.
Intervals: ``CONFIG_API_DELIVERY_MAINTENANCE_INTERVAL_S`` (default 60 s) and
``CONFIG_API_DELIVERY_RETENTION_INTERVAL_S`` (default 1 h).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from aiokafka.errors import KafkaError
from fastapi import FastAPI

from config_api.deliveries.deactivation import carry_out_deactivations, mark_failing_too_long
from config_api.deliveries.excerpts import seal_legacy_excerpts
from config_api.deliveries.health import Thresholds
from config_api.deliveries.health_events import announce_health_changes
from config_api.deliveries.ingest import DB_ERRORS, ResultsIngestor
from config_api.deliveries.recovery_runner import RecoveryRunner
from config_api.deliveries.retention import purge_expired
from config_api.settings import ConfigApiSettings

logger = logging.getLogger(__name__)


def thresholds_from(settings: ConfigApiSettings) -> Thresholds:
    """The auto-deactivation thresholds of the settings."""
    return Thresholds(
        max_consecutive_failures=settings.auto_disable_after_failures,
        max_failing_s=settings.auto_disable_after_s,
        failing_after=settings.failing_after_failures,
        failing_below_rate=settings.failing_below_success_rate,
        rate_window=settings.failing_rate_window,
    )


class DeliveryMaintenance:
    """Carries out deactivations (after each stored batch and periodically) and purges old logs."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        settings: ConfigApiSettings = app.state.settings
        self.settings = settings
        self.thresholds = thresholds_from(settings)
        self.interval_s = settings.delivery_maintenance_interval_s
        self.retention_interval_s = settings.delivery_retention_interval_s
        self._lock = asyncio.Lock()

    @property
    def pool(self) -> asyncpg.Pool:
        """The app's pool."""
        pool: asyncpg.Pool = self.app.state.pool
        return pool

    async def deactivate_pending(self) -> None:
        """Carry out pending deactivations; failures are logged and retried on the next run."""
        async with self._lock:  # the ingestor and the periodic loop must not announce the same one twice
            try:
                # Health changes first: a deactivation resets the counters a failing event reports.
                await announce_health_changes(self.pool, self.app.state.producer, self.settings.topics.ops)
                await carry_out_deactivations(self.pool, self.app.state.producer, self.settings.topics.ops)
            except (KafkaError, *DB_ERRORS) as exc:
                logger.warning("auto-deactivation postponed", extra={"error": type(exc).__name__})

    async def run(self) -> None:
        """The periodic loop (until cancelled)."""
        loop = asyncio.get_running_loop()
        next_purge = loop.time()
        while True:
            try:
                await mark_failing_too_long(self.pool, self.thresholds)
            except DB_ERRORS as exc:
                logger.warning("failing-too-long check postponed", extra={"error": type(exc).__name__})
            await self.deactivate_pending()
            if loop.time() >= next_purge:
                try:
                    report = await purge_expired(self.pool, self.settings.delivery_log_retention_days)
                    logger.info(
                        "delivery logs purged",
                        extra={"attempts": report.attempts, "payloads": report.payloads},
                    )
                    next_purge = loop.time() + self.retention_interval_s
                except DB_ERRORS as exc:
                    logger.warning("delivery log purge postponed", extra={"error": type(exc).__name__})
            await asyncio.sleep(self.interval_s)


async def supervise(name: str, run: Callable[[], Awaitable[None]], restart_delay_s: float = 1.0) -> None:
    """Run ``run`` until cancelled, restarting it after an unexpected error (logged with its traceback).

    A bug in one result or one webhook must not silently stop log ingestion for the whole service.
    """
    while True:
        try:
            await run()
            return
        except Exception:
            logger.exception("delivery task failed, restarting", extra={"task": name})
            await asyncio.sleep(restart_delay_s)


def start_delivery_tasks(app: FastAPI) -> list[asyncio.Task[None]]:
    """Start the delivery-side background tasks; returns them so the lifespan can cancel them."""
    settings: ConfigApiSettings = app.state.settings
    maintenance = DeliveryMaintenance(app)
    ingestor = ResultsIngestor(
        app.state.pool,
        settings.kafka_bootstrap_servers,
        settings,
        settings.topics.delivery_results,
        maintenance.thresholds,
        after_store=maintenance.deactivate_pending,
        fetch_max_wait_ms=settings.kafka_background_fetch_max_wait_ms,
        box=app.state.box,
    )
    recoveries = RecoveryRunner(
        app.state.pool,
        app.state.box,
        lambda: app.state.producer,
        settings.topics.deliveries,
        payload_encryption=settings.kafka_payload_encryption,
    )
    app.state.results_ingestor = ingestor
    app.state.delivery_maintenance = maintenance
    app.state.recovery_runner = recoveries
    loops = [
        asyncio.create_task(supervise("results-ingest", ingestor.run), name="delivery-results-ingest"),
        asyncio.create_task(supervise("maintenance", maintenance.run), name="delivery-maintenance"),
        asyncio.create_task(supervise("recoveries", recoveries.run), name="delivery-recoveries"),
    ]
    for loop in loops:  # they never end on their own: one that did makes /healthz 503
        app.state.supervisor.watch(loop)
    return [*loops, asyncio.create_task(_seal_legacy(app), name="seal-legacy-excerpts")]


async def _seal_legacy(app: FastAPI) -> None:
    try:
        await seal_legacy_excerpts(app.state.pool, app.state.box)
    except (OSError, asyncpg.PostgresError) as exc:  # retried at the next start; reads handle both forms
        logger.warning("could not encrypt stored response excerpts", extra={"error": type(exc).__name__})
