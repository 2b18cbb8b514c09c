"""The fetch loop: priority first, jobs run concurrently, retry tiers paused until due, safe commits.

Raw aiokafka rather than FastStream: the loop needs per-partition pause/seek/resume (a retry tier
partition waits, without spinning, until its head is due) and commits only the finished prefix of
each partition (see :mod:`delivery_worker.offsets`), which a per-message subscriber cannot express.

Fetched jobs queue in a lane per record key (the dispatcher keys jobs by webhook id). A lane runs
at most its webhook's ``max_in_flight`` jobs at once, each runner taking the next job of its lane
when one is done: a task per running job rather than one per fetched job, so a full fetch window
costs no tasks parked on a semaphore. A job's records go to the outbox and the runner moves on;
the job counts as finished (committable) once the broker acknowledged them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord

from contracts.topics import Topics
from delivery_worker.decision import HANDLER_ERROR_LIMIT
from delivery_worker.delivery import Deliverer
from delivery_worker.limits import LoopLag, RateMeter
from delivery_worker.metrics import WorkerMetrics
from delivery_worker.offsets import OffsetTracker
from delivery_worker.outbox import Outbox, Publication
from delivery_worker.plan import retry_due_ms
from service_kit.fetch_pacing import FetchPacer

logger = logging.getLogger(__name__)

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
LAG_REFRESH_S = 5.0
"""How often an idle consumer refreshes its lag gauge (under load: at every commit)."""
_Job: TypeAlias = "tuple[TopicPartition, Record]"


class _Lane:
    """The fetched, not yet started jobs of one record key; priority ones first."""

    __slots__ = ("normal", "runners", "urgent")

    def __init__(self) -> None:
        self.urgent: deque[_Job] = deque()
        self.normal: deque[_Job] = deque()
        self.runners = 0

    def __len__(self) -> int:
        return len(self.urgent) + len(self.normal)

    def pop(self) -> _Job | None:
        if self.urgent:
            return self.urgent.popleft()
        if self.normal:
            return self.normal.popleft()
        return None

    def drop(self, partitions: set[TopicPartition]) -> int:
        """Forget the queued jobs of these partitions; returns how many."""
        before = len(self)
        self.urgent = deque(job for job in self.urgent if job[0] not in partitions)
        self.normal = deque(job for job in self.normal if job[0] not in partitions)
        return before - len(self)


class JobConsumer:
    """Runs every job fetched from ``subscribed`` (delivery and priority topics, or the retry tiers)."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        deliverer: Deliverer,
        outbox: Outbox,
        topics: Topics,
        metrics: WorkerMetrics,
        *,
        subscribed: Sequence[str],
        max_pending: int,
        poll_timeout_ms: int,
        commit_interval_s: float,
        due_tolerance_ms: int,
    ) -> None:
        self.consumer = consumer
        self.deliverer = deliverer
        self.endpoints = deliverer.endpoints
        self.outbox = outbox
        self.metrics = metrics
        self.priority_topic = topics.deliveries_priority
        self.retry_tiers = {name: tier for tier, name in topics.retry_topics().items()}
        self.subscribed = list(subscribed)
        self.max_pending = max_pending
        self.poll_timeout_ms = poll_timeout_ms
        self.commit_interval_s = commit_interval_s
        self.due_tolerance_ms = due_tolerance_ms
        self.tracker: OffsetTracker[TopicPartition] = OffsetTracker()
        self.lanes: dict[bytes | None, _Lane] = {}
        self.runners: set[asyncio.Task[None]] = set()
        self.started: dict[TopicPartition, int] = {}
        """Jobs per partition taken by a runner and not finished yet (revocation waits for them)."""
        self.pending = 0
        """Jobs fetched and not finished (queued, running or waiting for their acknowledgement)."""
        self.stopping = asyncio.Event()
        self.group_id = ""
        """Consumer group, for the lag metric's ``group`` label (set by the app)."""
        self.pacer: FetchPacer | None = None
        """Lengthens the fetch wait while no job comes (set by the app; embedded broker only)."""
        self._room = asyncio.Event()
        self._progress = asyncio.Event()
        """Set whenever a job finishes (for waits on a condition about finished jobs)."""
        self.refill = max(1, min(64, max_pending // 8))
        """Free window slots that wake the fetch loop (at most 64, an eighth of the window)."""
        self._timers: dict[TopicPartition, asyncio.TimerHandle] = {}
        self._held: dict[TopicPartition, tuple[int, float]] = {}
        """Per tier partition, the offset held back as not due and when it was first (bounds its wait)."""
        self.finished_rate = RateMeter(tau_s=1.0)
        """Jobs run to the end (not parked) per second, for the parking rule's window turnover."""
        self.loop_lag = LoopLag()
        """The event loop's lag, probed once per fetch: a CPU-bound worker does not park."""
        self._commit_lock = asyncio.Lock()

    def listener(self) -> ConsumerRebalanceListener:
        """The rebalance listener to pass to ``subscribe``."""
        return _Rebalance(self)

    async def run(self) -> None:
        """Fetch and dispatch until :attr:`stopping` is set."""
        committer = asyncio.create_task(self._commit_loop(), name="delivery-commits")
        try:
            while not self.stopping.is_set():
                room = self.max_pending - self.pending
                if room < self.refill:
                    # Fetch in batches: waking the loop for every finished job would cost a fetch round
                    # (getmany, sort, dispatch) per delivery. The timeout also covers a lost wake-up.
                    self._room.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._room.wait(), self.poll_timeout_ms / 1000)
                    if self.max_pending - self.pending <= 0:
                        continue
                    room = self.max_pending - self.pending
                self.loop_lag.probe()
                try:
                    batch = await self._fetch(room)
                except KafkaError as exc:
                    logger.warning("fetch failed, retrying", extra={"error": type(exc).__name__})
                    await asyncio.sleep(0.5)
                    continue
                if batch and self.pacer is not None:
                    self.pacer.seen()
                # Priority partitions first, so their jobs also queue first for the concurrency limits.
                for tp in sorted(batch, key=lambda t: t.topic != self.priority_topic):
                    self._dispatch(tp, batch[tp])
        finally:
            committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await committer

    async def drain(self, timeout_s: float) -> None:
        """Wait (bounded) for every fetched job, cancel what is left, then commit what finished."""
        await self._wait_until(lambda: self.pending <= 0, timeout_s)
        if self.pending > 0:
            # Out of time: abandon them uncommitted (the next owner redoes them) before the producer closes.
            logger.warning("shutdown abandoned unfinished jobs", extra={"jobs": self.pending})
        for task in list(self.runners):
            task.cancel()
        await asyncio.gather(*self.runners, return_exceptions=True)
        await self.commit()

    async def _fetch(self, room: int) -> dict[TopicPartition, list[Record]]:
        paused = self.consumer.paused()
        priority = [
            tp for tp in self.consumer.assignment() if tp.topic == self.priority_topic and tp not in paused
        ]
        if priority:
            batch: dict[TopicPartition, list[Record]] = await self.consumer.getmany(
                *priority, timeout_ms=0, max_records=room
            )
            if batch:
                return batch
        batch = await self.consumer.getmany(timeout_ms=self.poll_timeout_ms, max_records=room)
        return batch

    def _dispatch(self, tp: TopicPartition, records: list[Record]) -> None:
        tier = self.retry_tiers.get(tp.topic)
        urgent = tp.topic == self.priority_topic
        now_ms = time.time() * 1000
        for record in records:
            if tier is not None:
                held = self._held.get(tp)
                first_seen = held[1] if held is not None and held[0] == record.offset else now_ms
                due_ms = retry_due_ms(record.headers, record.timestamp, tier, first_seen)
                if due_ms > now_ms + self.due_tolerance_ms:
                    self._held[tp] = (record.offset, first_seen)
                    self._pause_until(tp, record.offset, (due_ms - now_ms) / 1000)
                    return  # later records of this tier partition are due later still
            if not self.tracker.start(tp, record.offset):
                continue  # fetched again after a seek: it already ran or is running
            self.pending += 1
            self._enqueue(tp, record, urgent)

    def _enqueue(self, tp: TopicPartition, record: Record, urgent: bool) -> None:
        key = record.key
        lane = self.lanes.get(key)
        if lane is None:
            lane = self.lanes[key] = _Lane()
        if self.endpoints.should_park(
            key, len(lane), self.pending / self.max_pending, self._drain_s, self.loop_lag.seconds
        ):
            # Rather than let one slow webhook fill the fetch window (max_pending) and stall the others.
            try:
                parked = self.deliverer.park(record)
            except Exception:  # a bug in one job must not stop the fetch loop: the job queues instead
                logger.exception(
                    "parking failed, queueing the job",
                    extra={"topic": tp.topic, "partition": tp.partition, "offset": record.offset},
                )
            else:
                self.outbox.enqueue(parked, partial(self._finished, tp, record.offset))
                return
        (lane.urgent if urgent else lane.normal).append((tp, record))
        if lane.runners < self.endpoints.lane_limit(key):
            lane.runners += 1
            runner = asyncio.create_task(self._run_lane(key, lane))
            self.runners.add(runner)
            runner.add_done_callback(self.runners.discard)

    def _drain_s(self) -> float:
        """How long the jobs in the window would take to finish at the recent rate of jobs run."""
        rate = self.finished_rate.rate(time.monotonic())
        return self.pending / rate if rate > 0 else math.inf

    def _pause_until(self, tp: TopicPartition, offset: int, delay_s: float) -> None:
        """Rewind to the not-yet-due head and stop fetching the partition until it is due."""
        self.consumer.seek(tp, offset)
        self.consumer.pause(tp)
        old = self._timers.pop(tp, None)
        if old is not None:
            old.cancel()
        self._timers[tp] = asyncio.get_running_loop().call_later(delay_s, self._resume, tp)

    def _resume(self, tp: TopicPartition) -> None:
        self._timers.pop(tp, None)
        if tp in self.consumer.assignment():
            self.consumer.resume(tp)

    async def _run_lane(self, key: bytes | None, lane: _Lane) -> None:
        try:
            while (job := lane.pop()) is not None:
                tp, record = job
                self.started[tp] = self.started.get(tp, 0) + 1
                await self._run_one(tp, record)
        finally:
            lane.runners -= 1
            if lane.runners == 0 and not lane and self.lanes.get(key) is lane:
                del self.lanes[key]

    async def _run_one(self, tp: TopicPartition, record: Record) -> None:
        failures = 0
        while True:
            try:
                publications = await self.deliverer.handle(record)
                break
            except Exception as exc:  # a bug in one job must not stop the worker; the job is retried
                failures += 1
                logger.exception(
                    "job failed unexpectedly",
                    extra={"topic": tp.topic, "partition": tp.partition, "offset": record.offset},
                )
                if failures >= HANDLER_ERROR_LIMIT:
                    publications = self._give_up(record, exc, failures)
                    break
                if self.stopping.is_set():
                    self._settle(tp)  # left uncommitted: the next owner of the partition redoes it
                    return
                await asyncio.sleep(1.0)
        self.outbox.enqueue(publications, partial(self._finished, tp, record.offset, True))

    def _give_up(self, record: Record, exc: Exception, failures: int) -> list[Publication]:
        """A job that raised ``failures`` times: dead-lettered (``handler_error``), never retried again."""
        try:
            return self.deliverer.handler_failed(record, exc, failures)
        except Exception:  # even the dead letter could not be built: move on rather than wedge the partition
            logger.exception(
                "job dropped: its dead letter could not be built",
                extra={"topic": record.topic, "partition": record.partition, "offset": record.offset},
            )
            return []

    def _finished(self, tp: TopicPartition, offset: int, ran: bool = False) -> None:
        """The job's records are acknowledged: its offset may be committed."""
        self.tracker.finish(tp, offset)
        if ran:
            # Parked jobs finish fast without a request: counting them would hide a stalled window.
            self.finished_rate.record(time.monotonic())
            self._settle(tp)
        else:
            self._release()

    def _settle(self, tp: TopicPartition) -> None:
        count = self.started.get(tp, 0) - 1
        if count > 0:
            self.started[tp] = count
        else:
            self.started.pop(tp, None)
        self._release()

    def _release(self) -> None:
        self.pending -= 1
        self._progress.set()
        if self.max_pending - self.pending >= self.refill:
            self._room.set()

    async def _wait_until(self, done: Callable[[], bool], timeout_s: float) -> None:
        """Wait, at most ``timeout_s``, until ``done()`` holds; it is re-checked as jobs finish."""
        deadline = time.monotonic() + timeout_s
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)

    async def commit(self, only: set[TopicPartition] | None = None) -> None:
        """Commit the finished prefix of every (or the given) assigned partition."""
        async with self._commit_lock:
            assigned = self.consumer.assignment()
            offsets = {
                tp: off
                for tp, off in self.tracker.to_commit().items()
                if tp in assigned and (only is None or tp in only)
            }
            if not offsets:
                return
            try:
                await self.consumer.commit(offsets)
            except (CommitFailedError, KafkaError) as exc:
                # The jobs are done; an uncommitted offset only means they may be sent again.
                logger.warning("offset commit failed", extra={"error": type(exc).__name__})
                return
            self.tracker.mark_committed(offsets)

    async def _commit_loop(self) -> None:
        while True:
            await asyncio.sleep(self.commit_interval_s)
            if not self.tracker.to_commit():
                # Nothing finished since the last commit: sleep until a job finishes instead of waking
                # 5 times a second for nothing (an idle worker went from 0.009 to 0.006 cores). The lag
                # gauge is still refreshed every LAG_REFRESH_S: a stalled consumer's lag must show.
                self._progress.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._progress.wait(), LAG_REFRESH_S)
            await self.commit()
            self._update_lag()

    def _update_lag(self) -> None:
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            done = self.tracker.position(tp)
            if high is not None and done is not None:
                self.metrics.set_lag(self.group_id, tp.topic, tp.partition, high - done)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Drop the queued jobs of partitions being taken away, finish (bounded) the running ones, commit."""
        for tp in revoked:
            self._held.pop(tp, None)
            timer = self._timers.pop(tp, None)
            if timer is not None:
                timer.cancel()
        for lane in self.lanes.values():
            for _ in range(lane.drop(revoked)):
                self._release()  # the new owner starts from the last commit, which they are after
        await self._wait_until(lambda: not any(tp in self.started for tp in revoked), 10.0)
        await self.commit(only=set(revoked))
        for tp in revoked:
            self.tracker.forget(tp)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: JobConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.owner.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        logger.info("partitions assigned", extra={"count": len(assigned)})
