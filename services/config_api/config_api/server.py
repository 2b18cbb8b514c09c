"""The config API as a :class:`service_kit.service.Service`: uvicorn serving the FastAPI app.

The app's lifespan (pool, migrations, producer, background loops) is entered here rather than by
uvicorn, so a failed start raises the real error (uvicorn would log it and ``sys.exit(3)`` from
inside a task). uvicorn then serves as a task and is stopped with ``should_exit``; its own signal
handling is off, because ``service_kit.service.run_until_stopped`` owns SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn

from config_api.app import create_app
from config_api.settings import ConfigApiSettings
from config_api.state import api_state
from service_kit.supervisor import LoopSupervisor


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # run_until_stopped handles the signals


class ApiServer:
    """Serves the app on an already bound socket; ``start`` returns once the lifespan completed."""

    def __init__(self, settings: ConfigApiSettings, sock: socket.socket) -> None:
        self.app = create_app(settings)
        self._sock = sock
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off")
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None
        self._lifespan = contextlib.AsyncExitStack()

    @property
    def supervisor(self) -> LoopSupervisor:
        """The lifespan's critical loops (outbox relay, results ingest, maintenance)."""
        return api_state(self.app).supervisor

    async def start(self) -> None:
        """Run the lifespan (pool, migrations, producer, loops), then start serving."""
        await self._lifespan.enter_async_context(self.app.router.lifespan_context(self.app))
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]), name="uvicorn")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the HTTP server stopped during start-up")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stop accepting, finish requests, then run the lifespan's shutdown."""
        if self._task is not None:
            self._server.should_exit = True
            await self._task
            self._task = None
        await self._lifespan.aclose()
