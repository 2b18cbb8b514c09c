"""The fetch loop: priority first, jobs run concurrently, retry tiers paused until due, safe commits.

Raw aiokafka rather than FastStream: the loop needs per-partition pause/seek/resume (a retry tier
partition waits, without spinning, until its head is due) and commits only the finished prefix of
each partition (see :mod:`delivery_worker.offsets`), which a per-message subscriber cannot express.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord

from contracts.topics import Topics
from delivery_worker.delivery import Deliverer
from delivery_worker.metrics import WorkerMetrics
from delivery_worker.offsets import OffsetTracker
from delivery_worker.plan import retry_due_ms

logger = logging.getLogger(__name__)

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


class JobConsumer:
    """Runs every job fetched from the delivery, priority and retry topics."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        deliverer: Deliverer,
        topics: Topics,
        metrics: WorkerMetrics,
        *,
        max_pending: int,
        poll_timeout_ms: int,
        commit_interval_s: float,
        due_tolerance_ms: int,
    ) -> None:
        self.consumer = consumer
        self.deliverer = deliverer
        self.metrics = metrics
        self.priority_topic = topics.deliveries_priority
        self.retry_tiers = {name: tier for tier, name in topics.retry_topics().items()}
        self.subscribed = [topics.deliveries_priority, topics.deliveries, *self.retry_tiers]
        self.max_pending = max_pending
        self.poll_timeout_ms = poll_timeout_ms
        self.commit_interval_s = commit_interval_s
        self.due_tolerance_ms = due_tolerance_ms
        self.tracker: OffsetTracker[TopicPartition] = OffsetTracker()
        self.tasks: dict[TopicPartition, set[asyncio.Task[None]]] = {}
        self.pending = 0
        metrics.pending.set_function(lambda: self.pending)
        self.stopping = asyncio.Event()
        self._room = asyncio.Event()
        self.refill = max(1, min(64, max_pending // 8))
        """Free window slots that wake the fetch loop (at most 64, an eighth of the window)."""
        self._timers: dict[TopicPartition, asyncio.TimerHandle] = {}
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
                try:
                    batch = await self._fetch(room)
                except KafkaError as exc:
                    logger.warning("fetch failed, retrying", extra={"error": type(exc).__name__})
                    await asyncio.sleep(0.5)
                    continue
                # Priority partitions first, so their jobs also queue first for the concurrency limits.
                for tp in sorted(batch, key=lambda t: t.topic != self.priority_topic):
                    self._dispatch(tp, batch[tp])
        finally:
            committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await committer

    async def drain(self, timeout_s: float) -> None:
        """Wait (bounded) for every running job, cancel the rest, then commit what finished."""
        running = [t for tasks in self.tasks.values() for t in tasks]
        if running:
            _, unfinished = await asyncio.wait(running, timeout=timeout_s)
            # Out of time: abandon them uncommitted (the next owner redoes them) before the producer closes.
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
            if unfinished:
                logger.warning("shutdown abandoned unfinished jobs", extra={"jobs": len(unfinished)})
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
        now_ms = time.time() * 1000
        for record in records:
            if tier is not None:
                due_ms = retry_due_ms(list(record.headers or []), record.timestamp, tier)
                if due_ms > now_ms + self.due_tolerance_ms:
                    self._pause_until(tp, record.offset, (due_ms - now_ms) / 1000)
                    return  # later records of this tier partition are due later still
            if not self.tracker.start(tp, record.offset):
                continue  # fetched again after a seek: it already ran or is running
            self.pending += 1
            task = asyncio.create_task(self._run_one(tp, record))  # unnamed: a name per job costs CPU
            self.tasks.setdefault(tp, set()).add(task)

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

    async def _run_one(self, tp: TopicPartition, record: Record) -> None:
        try:
            while True:
                try:
                    await self.deliverer.handle(record)
                    break
                except Exception:  # a bug in one job must not stop the worker; the job is retried
                    logger.exception(
                        "job failed unexpectedly, retrying it",
                        extra={"topic": tp.topic, "partition": tp.partition, "offset": record.offset},
                    )
                    if self.stopping.is_set():
                        return  # left uncommitted: the next owner of the partition redoes it
                    await asyncio.sleep(1.0)
            self.tracker.finish(tp, record.offset)
        finally:
            self.pending -= 1
            if self.max_pending - self.pending >= self.refill:
                self._room.set()
            current = asyncio.current_task()
            tasks = self.tasks.get(tp)
            if tasks is not None and current is not None:
                tasks.discard(current)

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
            await self.commit()
            self._update_lag()

    def _update_lag(self) -> None:
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            done = self.tracker.position(tp)
            if high is not None and done is not None:
                self.metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, high - done))

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Finish (bounded) and commit the jobs of partitions being taken away."""
        for tp in revoked:
            timer = self._timers.pop(tp, None)
            if timer is not None:
                timer.cancel()
        running = [t for tp in revoked for t in self.tasks.get(tp, set())]
        if running:
            await asyncio.wait(running, timeout=10.0)
        await self.commit(only=set(revoked))
        for tp in revoked:
            self.tracker.forget(tp)
            self.tasks.pop(tp, None)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: JobConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.owner.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        logger.info("partitions assigned", extra={"count": len(assigned)})
