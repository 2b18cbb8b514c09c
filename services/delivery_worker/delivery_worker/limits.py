"""Per-webhook protection of endpoints: in-flight limit, token-bucket rate limit, circuit breaker.

The token bucket and the breaker are pure state machines driven by an explicit clock (monotonic
seconds) so they can be table-tested; :class:`InFlightLimiter` and :meth:`LoopLag.probe` are the only
asyncio parts. One set of guards per webhook is shared by every partition the worker owns.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from contracts.deliveries import CircuitState

Admission = Literal["send", "probe", "reject"]


class TokenBucket:
    """``rate`` tokens per second, bursts up to ``burst``; reservations may run into debt."""

    def __init__(self, rate: float, burst: float | None = None, now: float = 0.0) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0, got {rate}")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._tokens = self.burst
        self._at = now

    def reserve(self, now: float) -> float:
        """Take one token; returns how many seconds the caller must wait before using it."""
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; a single probe half-opens it after the cool-down.

    Each re-open doubles the cool-down, up to ``max_cooldown_s`` (the webhook's max retry delay).
    """

    def __init__(self, threshold: int, base_cooldown_s: float, max_cooldown_s: float) -> None:
        self.threshold = threshold
        self.base_cooldown_s = base_cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self.failures = 0
        self.opens = 0
        self.open_until = 0.0
        self._probing = False

    def state(self, now: float) -> CircuitState:
        """Closed, open (cooling down) or half-open (cool-down over or probe in flight)."""
        if self.opens == 0:
            return "closed"
        if self._probing or now >= self.open_until:
            return "half_open"
        return "open"

    def admit(self, now: float) -> Admission:
        """Whether a request may go out now: ``send``, ``probe`` (the one half-open trial) or ``reject``."""
        state = self.state(now)
        if state == "closed":
            return "send"
        if state == "half_open" and not self._probing:
            self._probing = True
            return "probe"
        return "reject"

    def retry_at(self, now: float) -> float:
        """When a rejected job should come back (end of the cool-down, or one base cool-down while probing)."""
        if self._probing or now >= self.open_until:
            return now + min(self.base_cooldown_s, self.max_cooldown_s)
        return self.open_until

    def record_success(self) -> None:
        """The endpoint answered 2xx: close."""
        self.failures = 0
        self.opens = 0
        self._probing = False

    def record_failure(self, now: float) -> None:
        """A retryable failure (the endpoint is unhealthy): count it, open or re-open."""
        self.failures += 1
        if self._probing or (self.opens == 0 and self.failures >= self.threshold):
            self.opens += 1
            cooldown = min(self.max_cooldown_s, self.base_cooldown_s * 2 ** min(self.opens - 1, 30))
            self.open_until = now + cooldown
            self._probing = False

    def release_probe(self) -> None:
        """The probe ended without a verdict (e.g. cancelled): let another job probe."""
        self._probing = False


class InFlightLimiter:
    """At most ``limit`` concurrent requests, FIFO; the limit follows config changes without a restart.

    The fast path (a free slot, nobody queued) takes no lock; a release wakes exactly one waiter.
    """

    def __init__(self) -> None:
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_acquire(self, limit: int) -> bool:
        """Take a slot under ``limit`` if one is free and nobody is queued (no coroutine: the usual case)."""
        if self.in_flight < max(1, limit) and not self._waiters:
            self.in_flight += 1
            return True
        return False

    async def acquire(self, limit: int) -> None:
        """Wait for a slot under ``limit``."""
        if self.try_acquire(limit):
            return
        limit = max(1, limit)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        try:
            while True:
                await waiter
                if self.in_flight < limit:
                    self.in_flight += 1
                    return
                # The slot went to a newcomer or the limit shrank: wait again, first in line.
                waiter = loop.create_future()
                self._waiters.appendleft(waiter)
        except asyncio.CancelledError:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.done() and not waiter.cancelled():
                self._wake()  # we were woken but will not take the slot: pass the wake-up on
            raise

    @property
    def waiting(self) -> int:
        """Jobs queued for a slot."""
        return len(self._waiters)

    def release(self) -> None:
        """Free a slot and wake the next waiter."""
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class SlotTime:
    """Moving average of how long a job holds an in-flight slot (send, deferral or failure alike)."""

    def __init__(self, weight: float = 0.2) -> None:
        self.weight = weight
        self.seconds: float | None = None
        """None until the first job released its slot."""
        self._first_started: float | None = None

    def started(self, now: float) -> None:
        """A job took a slot (only the first one matters, until one finishes)."""
        if self.seconds is None and self._first_started is None:
            self._first_started = now

    def record(self, held_s: float) -> None:
        """One job released its slot after ``held_s`` seconds."""
        held_s = max(0.0, held_s)
        self.seconds = (
            held_s if self.seconds is None else self.seconds + self.weight * (held_s - self.seconds)
        )

    def estimate(self, now: float) -> float:
        """The average, or before any job finished, how long the first one has been running: a lower
        bound that grows while an endpoint hangs and stays near zero for one that is merely new."""
        if self.seconds is not None:
            return self.seconds
        return 0.0 if self._first_started is None else max(0.0, now - self._first_started)


class RateMeter:
    """Events per second, exponentially weighted over about ``tau_s`` (driven by an explicit clock).

    The estimate is corrected for the start of a busy period (the first event after ``3 x tau_s``
    without any), so a worker that just began a backlog reads its real rate at once rather than a
    value still climbing from zero, which would look like a stalled window and park healthy jobs.
    """

    def __init__(self, tau_s: float = 1.0) -> None:
        if tau_s <= 0:
            raise ValueError(f"tau_s must be > 0, got {tau_s}")
        self.tau_s = tau_s
        self._raw = 0.0
        self._at: float | None = None
        self._since = 0.0

    def record(self, now: float) -> None:
        """One event at ``now``."""
        if self._at is None or now - self._at > 3 * self.tau_s:
            self._raw, self._since = 0.0, now  # a new busy period
        self._raw = self._decayed(now) + 1.0 / self.tau_s
        self._at = max(now, self._at if self._at is not None else now)

    def rate(self, now: float) -> float:
        """The current estimate (0 before any event; decays while none happen)."""
        if self._at is None:
            return 0.0
        # Young busy period: the raw average has only seen ``age`` seconds of events, not tau.
        age = max(now - self._since, self.tau_s / 100)
        return self._decayed(now) / -math.expm1(-age / self.tau_s)

    def _decayed(self, now: float) -> float:
        if self._at is None:
            return 0.0
        return self._raw * math.exp(-max(0.0, now - self._at) / self.tau_s)


LOOP_BUSY_S = 0.005
"""Event-loop lag (:class:`LoopLag`) from which the worker counts as CPU-bound and does not park."""


class LoopLag:
    """How long a callback waits in the event loop's ready queue before it runs, exponentially
    weighted: about a millisecond while the worker waits on its endpoints, tens of milliseconds once
    its own CPU (or the machine's, shared with other processes) is what limits its rate."""

    def __init__(self, weight: float = 0.25) -> None:
        self.weight = weight
        self.seconds = 0.0
        self._probe_at: float | None = None

    def record(self, waited_s: float) -> None:
        """One probe waited ``waited_s`` seconds."""
        self.seconds += self.weight * (max(0.0, waited_s) - self.seconds)

    def probe(self) -> None:
        """Queue a callback on the running loop that records how long it waited (one at a time)."""
        if self._probe_at is None:
            self._probe_at = time.perf_counter()
            asyncio.get_running_loop().call_soon(self._probed)

    def _probed(self) -> None:
        if self._probe_at is not None:
            self.record(time.perf_counter() - self._probe_at)
            self._probe_at = None


def should_park(
    *,
    waiting: int,
    max_queued: int,
    window_load: float,
    window_drain_s: float,
    max_in_flight: int,
    slot_time_s: float,
    park_after_s: float,
    loop_lag_s: float = 0.0,
    busy_lag_s: float = LOOP_BUSY_S,
) -> bool:
    """Whether a newly fetched job should go round the shortest retry tier instead of queueing.

    Parking protects the other webhooks from one webhook's backlog filling the fetch window, but
    costs a produce and a consume. So a job parks only when its webhook already has ``max_queued``
    jobs waiting, the window is at least half full and is not turning over (at the recent rate of
    finished jobs it would take longer than the trip through the tier to drain: ``window_drain_s``),
    and its own queue would take longer to drain than that trip (Little's law: waiting x slot time
    / slots, ``park_after_s``). A busy but healthy worker, however long its lanes, turns its window
    over quickly and queues instead of churning; a slow or hanging endpoint that holds the window
    stalls the turnover and gets parked (see :meth:`SlotTime.estimate` for a webhook with no
    finished job yet).

    Nor does a job park while the worker is CPU-bound (``loop_lag_s`` at least ``busy_lag_s``): then
    the window drains as fast as the worker can run jobs, whoever they are for, a lane is long only
    because the event loop is, and parking would add a produce and a consume per job to the very
    resource that limits everyone (with two workers on two shared cores it parked a third of a
    backlog for healthy webhooks, and the parked jobs' return made the loop busier still).
    """
    if waiting < max_queued or window_load < 0.5 or window_drain_s <= park_after_s:
        return False
    if loop_lag_s >= busy_lag_s:
        return False
    return waiting * slot_time_s / max(1, max_in_flight) > park_after_s


@dataclass
class WebhookGuards:
    """Everything the worker keeps per webhook."""

    limiter: InFlightLimiter = field(default_factory=InFlightLimiter)
    slot_time: SlotTime = field(default_factory=SlotTime)
    bucket: TokenBucket | None = None
    breaker: CircuitBreaker | None = None

    def bucket_for(self, rate: float | None, now: float) -> TokenBucket | None:
        """The token bucket for the current rate (rebuilt when the configured rate changes)."""
        if rate is None or rate <= 0:
            self.bucket = None
        elif self.bucket is None or self.bucket.rate != rate:
            self.bucket = TokenBucket(rate, now=now)
        return self.bucket

    def breaker_for(self, threshold: int, base_cooldown_s: float, max_cooldown_s: float) -> CircuitBreaker:
        """The breaker (limits follow the current config; state is kept)."""
        if self.breaker is None:
            self.breaker = CircuitBreaker(threshold, base_cooldown_s, max_cooldown_s)
        self.breaker.threshold = threshold
        self.breaker.base_cooldown_s = base_cooldown_s
        self.breaker.max_cooldown_s = max(max_cooldown_s, base_cooldown_s)
        return self.breaker
