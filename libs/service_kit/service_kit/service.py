"""The one service skeleton: start, run until SIGTERM/SIGINT or a dead loop, stop; report a failed start.

Every ``__main__.py`` is ``load_settings`` → ``configure_logging`` → :func:`run_main` with a
coroutine that prepares (e.g. creates topics) and then awaits :func:`run_until_stopped` on the
service built by ``create_app(settings)``.

Exit codes (the same for all four services):

- 0: stopped by SIGTERM/SIGINT after an orderly stop;
- 1 (:data:`EXIT_START_FAILED`): the service could not start (port taken, broker or database
  unreachable, config view not caught up in time); one line on stderr says why;
- 2 (:data:`EXIT_BAD_SETTINGS`): a setting is malformed (``service_kit.settings.load_settings``);
- 3 (:data:`EXIT_LOOP_DIED`): a critical loop died and the process gave up after the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from service_kit.runtime import EventLoopName, run
from service_kit.supervisor import LoopSupervisor

logger = logging.getLogger(__name__)

EXIT_START_FAILED = 1
EXIT_BAD_SETTINGS = 2
EXIT_LOOP_DIED = 3


class StartError(Exception):
    """The service could not start; the message is one line, safe to print."""


class Service(Protocol):
    """What :func:`run_until_stopped` runs: the composition root every ``create_app`` returns."""

    @property
    def supervisor(self) -> LoopSupervisor:
        """The loops whose death makes the service unhealthy."""
        ...

    async def start(self) -> None:
        """Start everything; return once the service does its work (raise when it cannot)."""

    async def stop(self) -> None:
        """Stop in order; must also work after a partial start."""


def describe(exc: BaseException) -> str:
    """One line naming the failure (the exception type when its text is empty)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def run_until_stopped(
    service: Service, exit_grace_s: float, prepare: Callable[[], Awaitable[object]] | None = None
) -> int:
    """Run ``prepare`` (e.g. create topics) and start ``service``, wait for SIGTERM/SIGINT or a dead
    loop, stop it; returns the exit code.

    A failed start raises :class:`StartError` after stopping whatever had started.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        if not await _start(service, prepare, stop):
            return 0  # a signal came while starting (e.g. waiting for the config view)
        failed = service.supervisor.failed
        await _first(stop.wait(), failed.wait())
        if not failed.is_set() or stop.is_set():
            return 0
        logger.error("stopping: a critical loop died", extra={"grace_s": exit_grace_s})
        # Let the probe and the logs show it; a SIGTERM (the orchestrator restarting us) ends it sooner.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), exit_grace_s)
        return EXIT_LOOP_DIED
    finally:
        service.supervisor.stopping()
        await service.stop()
        for sig in signals:
            loop.remove_signal_handler(sig)


async def _start(
    service: Service, prepare: Callable[[], Awaitable[object]] | None, stop: asyncio.Event
) -> bool:
    """Prepare and start, unless a signal comes first (False); a failure raises :class:`StartError`."""

    async def starting() -> None:
        if prepare is not None:
            await prepare()
        await service.start()

    task = asyncio.ensure_future(starting())
    await _first(task, stop.wait())
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False
    if (exc := task.exception()) is not None:
        raise StartError(describe(exc)) from exc
    return True


async def _first(*awaitables: Awaitable[object]) -> None:
    """Wait until one of ``awaitables`` is done; the others are cancelled (a task passed in is left running)."""
    futures = [asyncio.ensure_future(a) for a in awaitables]
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future, given in zip(futures, awaitables, strict=True):
            if future is not given:
                future.cancel()


def report_start_failure(service_name: str, reason: str) -> None:
    """The one line a failed start prints (stderr, plain text, even when logs are JSON)."""
    print(f"{service_name}: cannot start: {reason}", file=sys.stderr)  # noqa: T201 - one plain line for the operator


def run_main(
    service_name: str,
    main: Coroutine[Any, Any, int],
    event_loop: EventLoopName,
    gc_gen0_threshold: int,
) -> None:
    """Run ``main`` (which returns an exit code) and exit with it; a failed start exits 1 with one line."""
    try:
        code = run(main, event_loop, gc_gen0_threshold)
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        code = 0
    except StartError as exc:
        report_start_failure(service_name, str(exc))
        code = EXIT_START_FAILED
    if code:
        raise SystemExit(code)
