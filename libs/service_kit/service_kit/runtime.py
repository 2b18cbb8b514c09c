"""Running a service's main coroutine on the configured event loop.

uvloop (libuv) is the loop aiohttp and uvicorn recommend for socket-heavy services; it is the
default wherever the wheel exists (Linux, macOS) and ``EVENT_LOOP=asyncio`` selects the standard
library loop (to rule the loop out when chasing a problem, or to compare; on the 2-core benchmark
machine the worker's CPU per delivery differed by less than the machine's noise).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")

EventLoopName = Literal["uvloop", "asyncio"]


def loop_factory(name: EventLoopName) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for ``name``; None (the standard loop) when uvloop is asked for but not installed."""
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:  # e.g. Windows: no wheel, the standard loop works the same, only slower
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], event_loop: EventLoopName) -> T:
    """``asyncio.run`` on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory(event_loop)) as runner:
        return runner.run(main)


def current_loop_name() -> str:
    """Which loop runs now: "uvloop" or "asyncio" (logged by the services at start)."""
    loop = asyncio.get_running_loop()
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
