"""The answers of ``/healthz``, ``/readyz`` and ``/metrics``, independent of the HTTP framework.

:class:`~service_kit.ops_http.OpsServer` (aiohttp: dispatcher, delivery worker, DLQ replayer) and the
config API's FastAPI routes both serve these, so a probe means the same thing on every service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from service_kit.supervisor import LoopSupervisor


@dataclass(frozen=True)
class ProbeAnswer:
    """Status code and JSON body of a probe."""

    status: int
    body: dict[str, object]


class Probes:
    """Liveness from the loop supervisor, readiness from the service, metrics from a registry."""

    def __init__(
        self,
        supervisor: LoopSupervisor,
        ready: Callable[[], bool],
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        self.supervisor = supervisor
        self._ready = ready
        self._registry = registry

    def healthz(self) -> ProbeAnswer:
        """200 while every critical loop runs; 503 naming the dead ones."""
        return ProbeAnswer(200 if self.supervisor.healthy else 503, self.supervisor.status())

    def readyz(self) -> ProbeAnswer:
        """200 when the service says it is ready."""
        ok = self._ready()
        return ProbeAnswer(200 if ok else 503, {"ready": ok})

    def metrics(self) -> tuple[bytes, str]:
        """Prometheus text and its content type."""
        return generate_latest(self._registry), CONTENT_TYPE_LATEST
