"""The ops HTTP server of every service: ``/healthz``, ``/readyz`` and ``/metrics``.

The dispatcher and the delivery worker serve only these; the DLQ replayer mounts its API beside
them on the same server (``mounts``). The config API serves the same three answers from its
FastAPI app (:mod:`service_kit.probes` builds them), so every service answers alike:

- ``/healthz``: 200 while every critical loop runs, 503 once one died (:class:`LoopSupervisor`);
- ``/readyz``: 200 when the service is ready for traffic (its own callable), else 503;
- ``/metrics``: Prometheus text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry

from service_kit.probes import Probes
from service_kit.supervisor import LoopSupervisor


class OpsServer:
    """Serves liveness (from the supervisor), readiness (from a callable), metrics and mounted apps."""

    def __init__(
        self,
        host: str,
        port: int,
        ready: Callable[[], bool],
        registry: CollectorRegistry = REGISTRY,
        supervisor: LoopSupervisor | None = None,
        mounts: Mapping[str, web.Application] | None = None,
        middlewares: Sequence[Callable[..., Awaitable[web.StreamResponse]]] = (),
    ) -> None:
        self.host = host
        self.port = port
        self.probes = Probes(supervisor or LoopSupervisor(), ready, registry)
        self._runner: web.AppRunner | None = None
        self.app = web.Application(middlewares=list(middlewares))  # e.g. request metrics
        self.app.add_routes(
            [
                web.get("/healthz", self._healthz),
                web.get("/readyz", self._readyz),
                web.get("/metrics", self._metrics),
            ]
        )
        for prefix, sub in (mounts or {}).items():
            self.app.add_subapp(prefix, sub)

    async def _healthz(self, _: web.Request) -> web.Response:
        answer = self.probes.healthz()
        return web.json_response(answer.body, status=answer.status)

    async def _readyz(self, _: web.Request) -> web.Response:
        answer = self.probes.readyz()
        return web.json_response(answer.body, status=answer.status)

    async def _metrics(self, _: web.Request) -> web.Response:
        body, content_type = self.probes.metrics()
        return web.Response(body=body, headers={"content-type": content_type})

    @property
    def bound_port(self) -> int:
        """The port actually bound (useful when configured as 0)."""
        if self._runner is None or not self._runner.addresses:
            return self.port
        return int(self._runner.addresses[0][1])

    async def start(self) -> None:
        """Bind and serve (raises OSError naming the port when it is taken)."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise OSError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from exc

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
