"""Pipelined batches: the next batch is processed while the broker acknowledges the previous ones' jobs.

At-least-once needs only this: a batch's offsets are committed after every record produced from it was
acknowledged, and never past an earlier batch whose records were not. Waiting for the acknowledgements
and the commit before fetching again (one batch at a time) is the simple way, and under load it put a
produce round trip and a commit round trip in front of every event. Here up to ``depth`` batches are in
flight; a background task awaits them in poll order and commits the acknowledged prefix, at most once per
commit interval (acknowledged batches in between are coalesced into the next commit). Committing every
acknowledged batch cost an offset-commit round trip per batch: under a steady trickle of small batches
(1,500 events/s arrive as ~100 batches/s) that was ~100 commits/s, each a request for the dispatcher and
a write for the broker's group coordinator. A crash loses no event either way; it re-reads at most the
last interval's acknowledged batches (duplicates, which receivers de-duplicate by delivery id).

When a batch's records are refused, nothing after it is committed: the pipeline is *failed* until the
intake's next poll rewinds every partition of the unfinished batches to its earliest uncommitted offset
(:meth:`BatchPipeline.rewind`, called from the poll itself so that no batch fetched before the rewind is
ever processed after it). The events are processed again with the same delivery ids; receivers
de-duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError

logger = logging.getLogger(__name__)

Records = Sequence[ConsumerRecord[bytes, bytes]]


@dataclass(frozen=True)
class _Batch:
    starts: dict[TopicPartition, int]
    """First offset of each partition in the batch."""
    ends: dict[TopicPartition, int]
    """Offset to commit per partition once the batch is acknowledged (last offset + 1)."""
    acks: asyncio.Future[Any]


def _span(records: Records) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    starts: dict[TopicPartition, int] = {}
    ends: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        starts.setdefault(tp, record.offset)
        ends[tp] = record.offset + 1
    return starts, ends


def rewind_targets(
    batches: Sequence[tuple[dict[TopicPartition, int], dict[TopicPartition, int]]],
) -> dict[TopicPartition, int]:
    """Where each partition must be read again from: the earliest first offset among ``batches``."""
    targets: dict[TopicPartition, int] = {}
    for starts, _ in batches:
        for tp, offset in starts.items():
            targets[tp] = min(offset, targets.get(tp, offset))
    return targets


def commit_prefix(ends: Sequence[dict[TopicPartition, int]]) -> dict[TopicPartition, int]:
    """One commit for consecutive acknowledged batches (later batches' offsets win per partition)."""
    offsets: dict[TopicPartition, int] = {}
    for batch in ends:
        offsets.update(batch)
    return offsets


class BatchPipeline:
    """Batches whose jobs are being acknowledged, committed in poll order by :meth:`run`."""

    def __init__(
        self,
        consumer: Callable[[], AIOKafkaConsumer | None],
        depth: int,
        commit_interval_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumer = consumer
        self.depth = depth
        self.commit_interval_s = commit_interval_s
        self._clock = clock
        self._batches: deque[_Batch] = deque()
        self._changed = asyncio.Event()
        self._acknowledged: dict[TopicPartition, int] = {}
        """Offsets of acknowledged batches not committed yet (the next commit's)."""
        self._last_commit = -float("inf")
        self._commit_lock = asyncio.Lock()
        self.failed = False
        self.commits = 0
        """Offset commits sent (for tests and the bench: one per acknowledged prefix, not per batch)."""

    def __len__(self) -> int:
        return len(self._batches)

    def add(self, records: Records, acks: asyncio.Future[Any]) -> None:
        """Track one processed batch; ``acks`` completes when all its records are acknowledged."""
        starts, ends = _span(records)
        self._batches.append(_Batch(starts, ends, acks))
        acks.add_done_callback(self._settled)
        self._changed.set()

    def _settled(self, acks: asyncio.Future[Any]) -> None:
        if not acks.cancelled():
            acks.exception()  # retrieved here: a batch dropped by a rewind is never awaited
        self._changed.set()

    async def wait_for_room(self) -> None:
        """Return once fewer than ``depth`` batches are in flight (or the pipeline failed)."""
        while len(self._batches) >= self.depth and not self.failed:
            self._take_acknowledged()  # not only in run(): it may be waiting for a commit's answer
            if len(self._batches) < self.depth:
                return
            self._changed.clear()
            await self._changed.wait()

    async def drain(self, timeout_s: float) -> None:
        """Wait (bounded) until every batch was acknowledged or the pipeline failed, then commit what was."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while self._batches and not self.failed:
                    self._take_acknowledged()
                    if not self._batches:
                        break
                    self._changed.clear()
                    await self._changed.wait()
        await self.commit_acknowledged()

    def rewind(self, consumer: AIOKafkaConsumer, fetched: Records = ()) -> None:
        """After a failure: seek every partition of the unfinished batches (and of ``fetched``, a batch
        polled meanwhile) back to its earliest uncommitted offset and forget them.

        Synchronous on purpose: the poll calls it between fetches, so no batch fetched before the seek
        reaches the handler afterwards.
        """
        spans = [(b.starts, b.ends) for b in self._batches]
        if fetched:
            spans.append(_span(fetched))
        for tp, offset in rewind_targets(spans).items():
            # A partition revoked meanwhile is read again by its new owner from the last commit.
            with contextlib.suppress(IllegalStateError):
                consumer.seek(tp, offset)
        self._batches.clear()
        self.failed = False
        self._changed.set()

    async def run(self) -> None:
        """Commit acknowledged batches in poll order until cancelled (never raises otherwise)."""
        while True:
            self._take_acknowledged()
            if self._acknowledged:
                wait = self._last_commit + self.commit_interval_s - self._clock()
                if wait <= 0:
                    await self.commit_acknowledged()
                    continue
                # Not yet: fold in what is acknowledged meanwhile, commit once the interval is over.
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), wait)
                continue
            self._changed.clear()
            await self._changed.wait()

    def _take_acknowledged(self) -> None:
        """Move the acknowledged prefix of the batches to the next commit (stop at a failed one)."""
        if self.failed:
            return
        done: list[dict[TopicPartition, int]] = []
        while self._batches and self._batches[0].acks.done():
            head = self._batches[0]
            if head.acks.cancelled() or head.acks.exception() is not None:
                error = "cancelled" if head.acks.cancelled() else type(head.acks.exception()).__name__
                logger.warning(
                    "publishing jobs failed; the batch will be processed again", extra={"error": error}
                )
                self.failed = True
                break
            done.append(self._batches.popleft().ends)
        if done or self.failed:
            self._changed.set()
        if done:
            self._acknowledged.update(commit_prefix(done))

    async def commit_acknowledged(self) -> None:
        """Commit every acknowledged batch now (the interval's wait is for the background task only)."""
        async with self._commit_lock:
            self._take_acknowledged()
            offsets, self._acknowledged = self._acknowledged, {}
            self._last_commit = self._clock()
            if offsets:
                await self._commit(offsets)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        consumer = self._consumer()
        if consumer is None:
            return
        assigned = consumer.assignment()
        # A partition revoked meanwhile is read again by its new owner from the last commit.
        owned = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        if not owned:
            return
        try:
            self.commits += 1
            await consumer.commit(owned)
        except (KafkaError, IllegalStateError) as exc:
            logger.warning("offset commit failed", extra={"error": type(exc).__name__})
