"""Which long-running loops a service depends on, and whether they are all still running.

A consume loop that died (an unexpected exception, a cancellation nobody asked for, or a return)
leaves a process that answers HTTP but does no work; before this, ``/healthz`` stayed 200 and
nothing restarted it. Each service registers its loops here; ``/healthz`` answers 503 as soon as
one has died, and :func:`service_kit.service.run_service` stops the process with
:data:`~service_kit.service.EXIT_LOOP_DIED` after a grace period (so the probe and the log line can
be seen) unless a signal came first. Loops that can recover do so inside themselves (retrying
Kafka or PostgreSQL errors); a loop that ends is by definition one that could not.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadLoop:
    """A loop that ended while the service was running."""

    name: str
    reason: str


class LoopSupervisor:
    """Watches the service's critical tasks; :attr:`healthy` is False once one of them ended."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[object]] = {}
        self.dead: list[DeadLoop] = []
        self._stopping = False
        self._failed: asyncio.Event | None = None

    @property
    def failed(self) -> asyncio.Event:
        """Set when a watched loop dies (created lazily: the supervisor may be built outside a loop)."""
        if self._failed is None:
            self._failed = asyncio.Event()
            if self.dead:
                self._failed.set()
        return self._failed

    @property
    def healthy(self) -> bool:
        """No watched loop has died."""
        return not self.dead

    @property
    def tasks(self) -> dict[str, asyncio.Task[object]]:
        """The watched loops by name."""
        return dict(self._tasks)

    def watch(self, task: asyncio.Task[object] | asyncio.Task[None], name: str | None = None) -> None:
        """Treat ``task`` as critical: its end (other than during :meth:`stopping`) makes the service unhealthy."""
        key = name or task.get_name()
        self._tasks[key] = task
        task.add_done_callback(lambda t: self._ended(key, t))

    def stopping(self) -> None:
        """An orderly stop began: tasks ending from now on are expected."""
        self._stopping = True

    def status(self) -> dict[str, object]:
        """The ``/healthz`` body."""
        if self.healthy:
            return {"status": "ok", "loops": sorted(self._tasks)}
        return {"status": "failed", "dead_loops": [{"name": d.name, "reason": d.reason} for d in self.dead]}

    def _ended(self, name: str, task: asyncio.Task[object]) -> None:
        if self._stopping:
            return
        if task.cancelled():
            reason = "cancelled"
        elif (exc := task.exception()) is not None:
            reason = f"{type(exc).__name__}: {exc}"[:200]
        else:
            reason = "returned"
        self.dead.append(DeadLoop(name, reason))
        logger.error(
            "critical loop died; the service is unhealthy",
            extra={"loop": name, "reason": reason},
            exc_info=None if task.cancelled() else task.exception(),
        )
        self.failed.set()
