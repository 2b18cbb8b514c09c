"""A fetch wait that lengthens after a quiet spell and snaps back on the first record.

For brokers that hold every fetch for its whole wait even when a record arrives (the embedded Tansu
broker): there a consumer on the delivery path must fetch with a short wait to keep latency low, and
then polls all night. With :class:`FetchPacer`, a service whose consumers saw no record for
``quiet_after_s`` fetches with ``idle_ms`` instead of ``busy_ms``, and goes back to ``busy_ms`` as soon as
a record comes in on any of them. A steady trickle never goes quiet, so it keeps the short wait; only the first record after a quiet
spell waits up to ``idle_ms`` at each hop. On a real Kafka cluster, which answers a long poll as soon as
data arrives, this is off (``KAFKA_IDLE_FETCH_MAX_WAIT_MS`` unset): the one fetch wait of 500 ms
already costs nothing.

aiokafka reads the wait from its fetcher for every fetch request it builds, so changing it takes effect
from the next request; there is no public setter, hence :func:`set_fetch_wait` (checked against the
installed aiokafka by ``tests/service_kit/test_fetch_pacing.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaConsumer

from service_kit.settings import CommonSettings


def fetch_wait_ms(busy_ms: int, idle_ms: int, quiet_after_s: float, quiet_for_s: float) -> int:
    """The wait for a consumer that saw its last record ``quiet_for_s`` ago (pure, table-tested)."""
    return idle_ms if quiet_for_s >= quiet_after_s else busy_ms


def set_fetch_wait(consumer: AIOKafkaConsumer, wait_ms: int) -> bool:
    """Set the fetch wait of a started consumer's next requests; False when it has no fetcher yet."""
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None or not hasattr(fetcher, "_fetch_max_wait_ms"):
        return False
    fetcher._fetch_max_wait_ms = wait_ms
    return True


class FetchPacer:
    """Switches a service's consumers between the busy and the idle wait together (:meth:`seen` on
    records from any of them, :meth:`run`).

    Together, so that the relative speed of a service's consumers stays what it was: the dispatcher's
    config view must see a webhook change before the intake sees the events published after it, as with
    one short wait for both (a config view left on the idle wait behind a busy intake would lag).
    """

    def __init__(
        self,
        consumers: Callable[[], Iterable[AIOKafkaConsumer | None]],
        busy_ms: int,
        idle_ms: int,
        quiet_after_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumers = consumers
        self.busy_ms = busy_ms
        self.idle_ms = idle_ms
        self.quiet_after_s = quiet_after_s
        self._clock = clock
        self._last_record = clock()
        self.current_ms = busy_ms

    def seen(self) -> None:
        """Records arrived: back to the short wait at once (cheap enough to call per batch)."""
        self._last_record = self._clock()
        if self.current_ms != self.busy_ms:
            self._apply(self.busy_ms)

    def tick(self) -> None:
        """Re-decide from the time since the last record."""
        wanted = fetch_wait_ms(
            self.busy_ms, self.idle_ms, self.quiet_after_s, self._clock() - self._last_record
        )
        if wanted != self.current_ms:
            self._apply(wanted)

    async def run(self) -> None:
        """Tick until cancelled (a few times per quiet spell)."""
        while True:
            await asyncio.sleep(self.quiet_after_s / 4)
            self.tick()

    def _apply(self, wait_ms: int) -> None:
        applied = [set_fetch_wait(c, wait_ms) for c in self._consumers() if c is not None]
        if applied and all(applied):
            self.current_ms = wait_ms


def idle_pacer(
    consumers: Callable[[], Iterable[AIOKafkaConsumer | None]], settings: CommonSettings
) -> FetchPacer | None:
    """The pacer of a service's consumers on the short wait, or None when ``KAFKA_IDLE_FETCH_MAX_WAIT_MS``
    is unset."""
    idle_ms = settings.kafka_idle_fetch_max_wait_ms
    if idle_ms is None or idle_ms == settings.kafka_fetch_max_wait_ms:
        return None
    return FetchPacer(consumers, settings.kafka_fetch_max_wait_ms, idle_ms, settings.kafka_idle_after_s)
