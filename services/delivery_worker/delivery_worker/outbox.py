"""Publishing results, retries, dead letters and invalid records, in batches, with a callback per job.

A job hands its records to :meth:`Outbox.enqueue` with a ``done`` callback and moves on: its
in-flight slot is free as soon as the POST is over. One flusher task sends what accumulated as one
record batch per topic-partition (aiokafka ``send_batch``; partitions chosen by the same key
partitioner as a plain ``send``) and, once the broker acknowledged every record of a job, calls
that job's ``done``, which is when the consumer may commit its offset. While a round is in flight
the next one accumulates, so batches grow with the load without a fixed linger.

A failed round is retried (the broker may be restarting) until it succeeds; while the worker stops,
records that still fail after a few tries are given up, so their jobs stay uncommitted and the next
owner of the partition redoes them. Nothing is lost either way, and nothing is committed early.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError
from aiokafka.producer.message_accumulator import BatchBuilder

from service_kit.kafka import key_partitioner

logger = logging.getLogger(__name__)

_GIVE_UP_WHILE_STOPPING = 3
"""Failed rounds after which records are given up once the worker is stopping."""


@dataclass(frozen=True)
class Publication:
    """One record to produce."""

    topic: str
    key: str
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    fallback: Callable[[], Publication] | None = None
    """Builds what to publish instead if the broker refuses this record as too large (never retried;
    built only then, so the hot path pays nothing for it)."""


@dataclass(eq=False)
class _Ticket:
    """The records of one job still unacknowledged, and whom to tell when none are left."""

    remaining: int
    done: Callable[[], None]


_Entry = tuple[Publication, _Ticket]
_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)


class Outbox:
    """Batches publications per topic-partition and reports each job's acknowledgement."""

    def __init__(self, producer: AIOKafkaProducer, stopping: asyncio.Event, linger_s: float = 0.0) -> None:
        self._producer = producer
        self._stopping = stopping
        self._linger_s = linger_s
        self._queue: list[_Entry] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.refused = 0
        """Records the broker refused as too large (replaced by their fallback, or dropped)."""
        self._alone: set[int] = set()
        """Ids of publications to send in a batch of their own (their shared batch was refused as too large)."""

    def start(self) -> asyncio.Task[None]:
        """Start the flusher (after the producer started); returns its task for the loop supervisor."""
        self._task = asyncio.create_task(self._run(), name="delivery-outbox")
        return self._task

    async def stop(self) -> None:
        """Stop the flusher; whatever is still queued stays unacknowledged (its jobs uncommitted)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def enqueue(self, items: Sequence[Publication], done: Callable[[], None]) -> None:
        """Queue one job's records; ``done`` runs once the broker acknowledged all of them."""
        if not items:
            done()
            return
        ticket = _Ticket(len(items), done)
        self._queue.extend((item, ticket) for item in items)
        self._idle.clear()
        self._wake.set()

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait (bounded) until nothing is queued or in flight; False on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        failures = 0
        while True:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                if self._linger_s > 0:
                    await asyncio.sleep(self._linger_s)  # let the first record of a quiet spell have company
            entries, self._queue = self._queue, []
            try:
                failed, errors = await self._send_round(entries)
            except Exception as exc:  # the flusher must outlive any one round: retried below
                logger.exception("publish round failed unexpectedly")
                failed, errors = entries, {type(exc).__name__}
            if not failed:
                failures = 0
                continue
            failures += 1
            if self._stopping.is_set() and failures > _GIVE_UP_WHILE_STOPPING:
                logger.error(
                    "giving up publishing while stopping; the jobs stay uncommitted for the next owner",
                    extra={"records": len(failed), "errors": sorted(errors)},
                )
                failures = 0
                continue
            logger.warning(
                "publish failed, retrying", extra={"records": len(failed), "errors": sorted(errors)}
            )
            self._queue[:0] = failed  # first in line once the broker is back
            await asyncio.sleep(min(5.0, 0.1 * 2**failures))

    async def _send_round(self, entries: list[_Entry]) -> tuple[list[_Entry], set[str]]:
        """Send one round; returns the entries that failed and the error names."""
        failed: list[_Entry] = []
        errors: set[str] = set()
        groups: dict[tuple[str, int], list[_Entry]] = {}
        partitions: dict[str, list[int] | None] = {}
        for entry in entries:
            item = entry[0]
            if item.topic not in partitions:
                partitions[item.topic] = await self._partitions_of(item.topic, errors)
            known = partitions[item.topic]
            if known is None:
                failed.append(entry)
                continue
            partition = key_partitioner(item.key.encode(), known, known)
            groups.setdefault((item.topic, partition), []).append(entry)
        sent: list[tuple[list[_Entry], asyncio.Future[object]]] = []
        for (topic, partition), group in groups.items():
            for chunk, batch in self._batches(group):
                try:
                    future = await self._producer.send_batch(batch, topic, partition=partition)
                except KafkaError as exc:  # e.g. the accumulator could not take it in time: retry these
                    failed.extend(self._refused(chunk, exc))
                    errors.add(type(exc).__name__)
                    continue
                sent.append((chunk, future))
        outcomes = await asyncio.gather(*(future for _, future in sent), return_exceptions=True)
        for (chunk, _), outcome in zip(sent, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                failed.extend(self._refused(chunk, outcome))
                errors.add(type(outcome).__name__)
                continue
            if self._alone:
                self._alone.difference_update(id(item) for item, _ in chunk)
            for _, ticket in chunk:
                ticket.remaining -= 1
                if ticket.remaining == 0:
                    ticket.done()
        return failed, errors

    def _refused(self, chunk: list[_Entry], exc: BaseException) -> list[_Entry]:
        """The entries to retry after a failed send: all of them, unless the broker refused a lone
        record as too large. That one would be refused for ever and hold its job's offset: it is
        replaced by its fallback (a smaller record saying what happened) or, without one, dropped."""
        if not isinstance(exc, _TOO_LARGE):
            return chunk
        if len(chunk) > 1:  # which one is too large? Each goes alone next round, and only it is refused
            self._alone.update(id(item) for item, _ in chunk)
            return chunk
        item, ticket = chunk[0]
        self._alone.discard(id(item))
        self.refused += 1
        logger.error(
            "record refused as too large; not retried",
            extra={"topic": item.topic, "bytes": len(item.value), "fallback": item.fallback is not None},
        )
        if item.fallback is not None:
            return [(item.fallback(), ticket)]
        ticket.remaining -= 1
        if ticket.remaining == 0:
            ticket.done()
        return []

    def _batches(self, group: list[_Entry]) -> list[tuple[list[_Entry], BatchBuilder]]:
        """The group as closed record batches (more than one only if it exceeds the batch size)."""
        out: list[tuple[list[_Entry], BatchBuilder]] = []
        batch = self._producer.create_batch()
        chunk: list[_Entry] = []
        for entry in group:
            item = entry[0]
            key = item.key.encode()
            alone = bool(self._alone) and id(item) in self._alone
            if (alone and chunk) or batch.append(
                key=key, value=item.value, timestamp=None, headers=item.headers
            ) is None:
                out.append((chunk, batch))
                batch = self._producer.create_batch()
                chunk = []
                # An empty batch takes any one record, however large.
                batch.append(key=key, value=item.value, timestamp=None, headers=item.headers)
            chunk.append(entry)
            if alone:
                out.append((chunk, batch))
                batch = self._producer.create_batch()
                chunk = []
        if chunk:
            out.append((chunk, batch))
        for _, built in out:
            built.close()  # closed: sent at once, no second linger inside aiokafka
        return out

    async def _partitions_of(self, topic: str, errors: set[str]) -> list[int] | None:
        """The topic's partitions from the producer's metadata (which aiokafka keeps fresh)."""
        known = self._producer.client.cluster.partitions_for_topic(topic)
        if not known:
            try:
                known = await self._producer.partitions_for(topic)
            except KafkaError as exc:
                errors.add(type(exc).__name__)
                return None
        return sorted(known)
