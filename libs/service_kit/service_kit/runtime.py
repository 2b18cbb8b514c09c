"""Running a service's main coroutine on the configured event loop.

uvloop (libuv) is the loop aiohttp and uvicorn recommend for socket-heavy services; it is the
default wherever the wheel exists (Linux, macOS) and ``EVENT_LOOP=asyncio`` selects the standard
library loop (to rule the loop out when chasing a problem, or to compare; on the 2-core benchmark
machine the worker's CPU per delivery differed by less than the machine's noise).

The cyclic garbage collector is tuned too (:func:`tuned_gc`). A busy worker allocates tasks,
futures, requests and models by the hundred per delivery; with CPython's default thresholds
(700, 10, 10) it spent 17 % of its CPU in collections (measured with ``gc.callbacks`` during
``bench/worker_bench.py``), most of it in full collections that walk every imported module's
objects. Freezing the import-time heap takes those out of every collection, and a larger
young-generation threshold makes collections rarer (they still run: reference cycles are freed).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

T = TypeVar("T")

EventLoopName = Literal["uvloop", "asyncio"]

DEFAULT_GC_GEN0_THRESHOLD = 50_000
"""Allocations between young-generation collections (CPython's default is 700)."""


def loop_factory(name: EventLoopName) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for ``name``; None (the standard loop) when uvloop is asked for but not installed."""
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:  # e.g. Windows: no wheel, the standard loop works the same, only slower
        return None
    return uvloop.new_event_loop


@contextmanager
def tuned_gc(gen0_threshold: int) -> Iterator[None]:
    """Freeze the heap built so far and raise the young-generation threshold (0: leave the GC alone).

    Restored on exit, so a caller that is not a whole process (a test) keeps its own settings.
    """
    if gen0_threshold <= 0:
        yield
        return
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()  # what exists now (modules, classes, schemas) lives as long as the process
    gc.set_threshold(gen0_threshold, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def run(
    main: Coroutine[Any, Any, T],
    event_loop: EventLoopName,
    gc_gen0_threshold: int = DEFAULT_GC_GEN0_THRESHOLD,
) -> T:
    """``asyncio.run`` on the chosen loop, with the garbage collector tuned (see :func:`tuned_gc`)."""
    with tuned_gc(gc_gen0_threshold), asyncio.Runner(loop_factory=loop_factory(event_loop)) as runner:
        return runner.run(main)


def current_loop_name() -> str:
    """Which loop runs now: "uvloop" or "asyncio" (logged by the services at start)."""
    loop = asyncio.get_running_loop()
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
