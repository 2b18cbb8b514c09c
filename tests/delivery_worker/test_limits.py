"""Token bucket, circuit breaker and offset tracker (pure state machines, explicit clock)."""

from __future__ import annotations

import asyncio
import time

import pytest

from delivery_worker.limits import (
    CircuitBreaker,
    InFlightLimiter,
    LoopLag,
    RateMeter,
    SlotTime,
    TokenBucket,
    WebhookGuards,
    should_park,
)
from delivery_worker.offsets import OffsetTracker


def test_token_bucket_burst_then_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=2.0, now=0.0)
    assert [bucket.reserve(0.0) for _ in range(4)] == [0.0, 0.0, 0.5, 1.0]
    assert bucket.reserve(10.0) == 0.0  # refilled (to the burst, not beyond)
    assert bucket.reserve(10.0) == 0.0
    assert bucket.reserve(10.0) == 0.5


def test_token_bucket_rejects_bad_rate() -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        TokenBucket(0)


def test_breaker_opens_after_threshold_and_probes() -> None:
    b = CircuitBreaker(threshold=5, base_cooldown_s=10, max_cooldown_s=25)
    for _ in range(4):
        assert b.admit(0) == "send"
        b.record_failure(0)
    assert b.state(0) == "closed"
    b.record_failure(0)
    assert b.state(0) == "open" and b.admit(5) == "reject" and b.retry_at(5) == 10
    assert b.admit(10) == "probe" and b.state(10) == "half_open"
    assert b.admit(10) == "reject"  # only one probe at a time
    assert b.retry_at(10) == 20
    b.record_failure(11)  # failed probe: re-open, cool-down doubled
    assert b.state(12) == "open" and b.open_until == 31
    assert b.admit(31) == "probe"
    b.record_failure(31)
    assert b.open_until == 31 + 25  # capped at the max delay
    assert b.admit(56) == "probe"
    b.record_success()
    assert b.state(56) == "closed" and b.admit(56) == "send" and b.failures == 0


def test_breaker_success_resets_the_count_and_probe_release() -> None:
    b = CircuitBreaker(threshold=3, base_cooldown_s=1, max_cooldown_s=10)
    b.record_failure(0)
    b.record_failure(0)
    b.record_success()
    b.record_failure(0)
    b.record_failure(0)
    assert b.state(0) == "closed"
    b.record_failure(0)
    assert b.admit(1) == "probe"
    b.release_probe()
    assert b.admit(1) == "probe"  # another job may probe


def test_guards_follow_config_changes() -> None:
    g = WebhookGuards()
    assert g.bucket_for(None, 0) is None
    first = g.bucket_for(5.0, 0)
    assert g.bucket_for(5.0, 1) is first
    assert g.bucket_for(2.0, 1) is not first
    br = g.breaker_for(5, 1.0, 0.0)
    assert br.max_cooldown_s == 1.0  # a zero max delay must not disable the cool-down
    assert g.breaker_for(3, 1.0, 60.0) is br and br.threshold == 3


async def test_in_flight_limiter() -> None:
    lim = InFlightLimiter()
    await lim.acquire(2)
    await lim.acquire(2)
    third = asyncio.create_task(lim.acquire(2))
    await asyncio.sleep(0.01)
    assert not third.done()
    lim.release()
    await asyncio.wait_for(third, 1)
    assert lim.in_flight == 2
    # A cancelled waiter does not swallow the next wake-up.
    fourth = asyncio.create_task(lim.acquire(2))
    fifth = asyncio.create_task(lim.acquire(2))
    await asyncio.sleep(0.01)
    fourth.cancel()
    lim.release()
    await asyncio.wait_for(fifth, 1)
    assert lim.in_flight == 2
    # A raised limit is used at once by newcomers.
    await asyncio.wait_for(lim.acquire(3), 1)
    assert lim.in_flight == 3


async def test_in_flight_limiter_try_acquire_takes_only_a_free_slot_nobody_queues_for() -> None:
    lim = InFlightLimiter()
    assert [lim.try_acquire(2), lim.try_acquire(2), lim.try_acquire(2)] == [True, True, False]
    assert lim.in_flight == 2
    queued = asyncio.create_task(lim.acquire(2))
    await asyncio.sleep(0.01)
    assert not lim.try_acquire(3)  # a raised limit, but a job is queued: no jumping the queue
    lim.release()
    await asyncio.wait_for(queued, 1)
    assert lim.in_flight == 2 and not lim.try_acquire(0)  # a limit below 1 counts as 1


def test_offset_tracker_commits_only_the_finished_prefix() -> None:
    t: OffsetTracker[str] = OffsetTracker()
    for off in (10, 11, 12, 13):
        t.start("p0", off)
    t.finish("p0", 12)
    assert t.to_commit() == {}
    t.finish("p0", 10)
    assert t.to_commit() == {"p0": 11}
    t.mark_committed({"p0": 11})
    assert t.to_commit() == {}
    t.finish("p0", 11)
    assert t.to_commit() == {"p0": 13} and t.pending("p0") == 1
    t.finish("p0", 13)
    assert t.position("p0") == 14
    assert t.start("p0", 12) is False  # re-fetched: not run twice
    assert t.start("p0", 14) is True
    t.finish("p0", 14)
    t.forget("p0")
    t.finish("p0", 13)  # finishing after a revoke is ignored
    assert t.to_commit() == {}


async def test_caching_resolver_reuses_answers_for_the_ttl() -> None:
    from delivery_worker.dns_cache import CachingResolver

    calls: list[str] = []
    now = [0.0]

    async def inner(host: str, port: int) -> list[str]:
        calls.append(host)
        return [f"192.0.2.{len(calls)}"]

    cached = CachingResolver(inner, ttl_s=10, max_entries=2, clock=lambda: now[0])
    assert await cached("a", 443) == ["192.0.2.1"]
    assert await cached("a", 443) == ["192.0.2.1"] and calls == ["a"]
    assert cached.peek("a", 443) == ["192.0.2.1"] and cached.peek("z", 443) is None
    now[0] = 10.5
    assert cached.peek("a", 443) is None  # expired: the sender must resolve (under its timeout)
    assert await cached("a", 443) == ["192.0.2.2"]  # expired: resolved again
    await cached("b", 443)
    await cached("c", 443)  # full: bounded, never grows past max_entries
    assert len(cached._entries) <= 2
    off = CachingResolver(inner, ttl_s=0)
    await off("a", 1)
    await off("a", 1)
    assert calls.count("a") == 4


INF = float("inf")


@pytest.mark.parametrize(
    ("lag", "park"),
    [
        (0.0, True),  # the loop idles: the worker waits on the slow endpoint, park
        (0.004, True),  # a few ms: still not CPU-bound
        (0.005, False),  # CPU-bound: a lane is long because the loop is, parking adds work
        (0.050, False),
    ],
)
def test_a_cpu_bound_worker_does_not_park(lag: float, park: bool) -> None:
    stalled = {"waiting": 400, "max_queued": 200, "window_load": 1.0, "window_drain_s": 5.0}
    assert (
        should_park(
            **stalled, max_in_flight=32, slot_time_s=0.5, park_after_s=1.0, loop_lag_s=lag, busy_lag_s=0.005
        )
        is park
    )


def test_loop_lag_is_a_moving_average_of_probes() -> None:
    lag = LoopLag(weight=0.5)
    assert lag.seconds == 0.0
    lag.record(0.02)
    assert lag.seconds == pytest.approx(0.01)
    lag.record(0.02)
    assert lag.seconds == pytest.approx(0.015)
    lag.record(-1.0)  # a clock step backwards counts as no wait
    assert lag.seconds == pytest.approx(0.0075)
    for _ in range(20):
        lag.record(0.0)
    assert lag.seconds < 1e-6  # an idle loop reads idle again


async def test_loop_lag_probe_measures_a_blocked_loop() -> None:
    lag = LoopLag(weight=1.0)
    lag.probe()
    lag.probe()  # one probe at a time: the second is not queued
    time.sleep(0.02)  # the loop is blocked before the probe's callback can run
    await asyncio.sleep(0)
    assert lag.seconds >= 0.02
    lag.probe()
    await asyncio.sleep(0)  # an idle loop runs it at once
    assert lag.seconds < 0.01


@pytest.mark.parametrize(
    ("waiting", "load", "drain", "slots", "slot_time", "park"),
    [
        (199, 1.0, INF, 1, 10.0, False),  # below max_queued: always queue
        (500, 0.49, INF, 1, 10.0, False),  # window less than half full: queue
        (200, 0.9, INF, 32, 0.1, False),  # 200 x 0.1 s / 32 slots = 0.63 s to drain: queue
        (400, 0.9, INF, 32, 0.1, True),  # 1.25 s to drain: longer than the 1 s tier, park
        (400, 0.9, 1.5, 32, 0.1, True),  # the window takes 1.5 s to turn over: still stalled, park
        (400, 0.9, 1.0, 32, 0.1, False),  # the window turns over within the tier: a busy worker, queue
        (2000, 1.0, 0.7, 32, 0.1, False),  # a long lane, but the whole window drains in 0.7 s: queue
        (200, 1.0, INF, 1, 0.2, True),  # one slot at 0.2 s: 40 s of backlog
        (200, 1.0, INF, 0, 0.001, False),  # a zero limit counts as one slot (0.2 s)
        (200, 1.0, INF, 32, 0.0, False),  # new webhook, first job just started: no reason to park yet
    ],
)
def test_should_park(
    waiting: int, load: float, drain: float, slots: int, slot_time: float, park: bool
) -> None:
    assert (
        should_park(
            waiting=waiting,
            max_queued=200,
            window_load=load,
            window_drain_s=drain,
            max_in_flight=slots,
            slot_time_s=slot_time,
            park_after_s=1.0,
        )
        is park
    )


def test_rate_meter_tracks_a_steady_rate_and_decays_when_idle() -> None:
    meter = RateMeter(tau_s=1.0)
    assert meter.rate(0.0) == 0.0  # nothing yet
    for i in range(1, 1001):  # 100 events per second for 10 s: ten time constants
        meter.record(i / 100)
    assert meter.rate(10.0) == pytest.approx(100.0, rel=0.01)
    assert meter.rate(11.0) == pytest.approx(100.0 / 2.718281828, rel=0.02)  # one time constant idle
    assert meter.rate(30.0) < 1e-6
    assert meter.rate(5.0) == pytest.approx(meter.rate(10.0), rel=0.01)  # a clock from the past: no growth
    with pytest.raises(ValueError, match="tau_s must be > 0"):
        RateMeter(tau_s=0)


def test_rate_meter_reads_the_real_rate_at_the_start_of_a_busy_period() -> None:
    meter = RateMeter(tau_s=1.0)
    for i in range(1, 21):  # 200 per second, for the first 0.1 s
        meter.record(i / 200)
    assert meter.rate(0.1) == pytest.approx(200.0, rel=0.1)  # not 200 x (1 - e^-0.1) = 19
    for i in range(1, 51):  # after 10 s of silence: a new busy period at 100 per second
        meter.record(10.0 + i / 100)
    assert meter.rate(10.5) == pytest.approx(100.0, rel=0.1)


def test_slot_time_moving_average_and_estimate_before_any_finished() -> None:
    slot = SlotTime(weight=0.5)
    assert slot.seconds is None and slot.estimate(now=5.0) == 0.0  # nothing started
    slot.started(10.0)
    slot.started(10.5)  # only the first start counts until a job finishes
    assert slot.estimate(now=10.0) == 0.0
    assert slot.estimate(now=13.0) == 3.0  # a hanging first job: the estimate grows with its age
    slot.record(1.0)
    assert slot.seconds == 1.0 and slot.estimate(now=99.0) == 1.0
    slot.record(0.0)
    assert slot.seconds == 0.5
    slot.record(-3.0)  # a clock step backwards counts as zero
    assert slot.seconds == 0.25
