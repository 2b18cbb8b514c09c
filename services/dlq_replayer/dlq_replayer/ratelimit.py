"""Pacing of a replay: message ``n`` is not sent before ``start + n / rate`` seconds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class Pacer:
    """Spaces sends evenly at ``rate`` per second (no bursts: a replay must not flood a recovering receiver)."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._start: float | None = None
        self._count = 0

    def delay_for_next(self) -> float:
        """Seconds to wait before the next send (0 when it may go now)."""
        now = self._clock()
        if self._start is None:
            self._start = now
        due = self._start + self._count * self.interval
        return max(0.0, due - now)

    async def wait(self) -> None:
        """Wait until the next send is due, then count it."""
        delay = self.delay_for_next()
        if delay > 0:
            await self._sleep(delay)
        self._count += 1
