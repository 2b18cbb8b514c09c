"""Composition root of the HTTP service: ``create_app(settings)``.

One server, as in the dispatcher and the worker: ``service_kit.ops_http.OpsServer`` serves
``/healthz`` ``/readyz`` ``/metrics`` and the ``/dlq`` API mounted beside them. The core (pool,
schema, producer, config view) is opened in :meth:`DlqReplayerApp.start`; the config view's
follower and the replay-end announcer (:mod:`dlq_replayer.announcements`) are critical loops
(``/healthz`` 503 once one died).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from dlq_replayer.announcements import CompletionAnnouncer
from dlq_replayer.handlers import ApiState, create_api, headers_middleware
from dlq_replayer.metrics import BASE, HTTP, REGISTRY
from dlq_replayer.runtime import open_core
from dlq_replayer.settings import DlqReplayerSettings
from service_kit.ops_http import OpsServer
from service_kit.supervisor import LoopSupervisor

logger = logging.getLogger(__name__)


class DlqReplayerApp:
    """The DLQ replayer service: :meth:`start` and :meth:`stop` (run by ``service_kit.service``)."""

    def __init__(self, settings: DlqReplayerSettings) -> None:
        self.settings = settings
        self.supervisor = LoopSupervisor()
        self.state = ApiState(settings)
        self.ops = OpsServer(
            settings.host,
            settings.port,
            ready=lambda: self.ready,
            registry=REGISTRY,
            supervisor=self.supervisor,
            mounts={"/dlq": create_api(self.state)},
            middlewares=[HTTP.aiohttp_middleware(), headers_middleware],
        )
        BASE.watch_ready(lambda: self.ready)
        self._core = contextlib.AsyncExitStack()
        self._announcer: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        """Ready once the webhook view caught up with webhooks.config."""
        return self.state.runtime is not None and self.state.runtime.ready

    async def start(self) -> None:
        """Open the core (migrating unless MIGRATE_ON_START=false), then serve."""
        settings = self.settings
        runtime = await self._core.enter_async_context(
            open_core(settings, follow=True, migrate=settings.migrate_on_start)
        )
        self.state.runtime = runtime
        if runtime.followed is not None:
            self.supervisor.watch(runtime.followed.follower.task, "config-follower")
        announcer = CompletionAnnouncer(
            runtime.core.store, runtime.publisher, settings.topics.ops, settings.announce_interval_s
        )
        self.state.on_run_end = announcer.wake
        self._announcer = asyncio.create_task(announcer.run(), name="replay-announcer")
        self.supervisor.watch(self._announcer, "replay-announcer")
        await self.ops.start()
        logger.info("dlq replayer listening", extra={"host": settings.host, "port": self.ops.bound_port})

    async def stop(self) -> None:
        """Stop serving; running replays are cancelled (each records itself as interrupted)."""
        self.supervisor.stopping()
        await self.ops.stop()
        tasks = list(self.state.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._announcer is not None:
            self._announcer.cancel()
            await asyncio.gather(self._announcer, return_exceptions=True)
        await self._core.aclose()
        self.state.runtime = None
        logger.info("dlq replayer stopped")


def create_app(settings: DlqReplayerSettings) -> DlqReplayerApp:
    """The one composition root of the DLQ replayer service."""
    return DlqReplayerApp(settings)
