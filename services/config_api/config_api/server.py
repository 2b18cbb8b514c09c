"""The config API as a :class:`service_kit.service.Service`: uvicorn serving the FastAPI app.

uvicorn is started as a task and stopped with ``should_exit``; its own signal handling is turned
off, because ``service_kit.service.run_until_stopped`` owns SIGTERM/SIGINT for all four services.
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
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="on")
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def supervisor(self) -> LoopSupervisor:
        """The lifespan's critical loops (outbox relay, results ingest, maintenance)."""
        return api_state(self.app).supervisor

    async def start(self) -> None:
        """Run the lifespan (pool, migrations, producer, loops) and start serving."""
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]), name="uvicorn")
        while not self._server.started:
            if self._task.done():
                try:
                    self._task.result()
                except SystemExit:  # uvicorn's answer to a failed lifespan (it logged the cause)
                    raise RuntimeError("the application's start-up failed (see the log above)") from None
                raise RuntimeError("the server stopped during start-up")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stop accepting, finish requests, run the lifespan's shutdown."""
        if self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(SystemExit):
            await self._task
        self._task = None
