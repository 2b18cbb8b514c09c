"""Reads the DLQ topic: a bounded scan (up to the end offsets seen at its start) or a fetch of given offsets.

Every partition is assigned directly (no consumer group, nothing committed): reading never
changes what the next reader sees. End offsets are treated as a lower bound (see ``_read``). With ``since`` the scan starts at the broker's
offsets-for-times answer, but that answer is only a hint (the embedded broker answers offset 0
for any time), so the caller still filters by record time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from contracts.deliveries import DeadLetterV1
from dlq_replayer.errors import UnavailableError
from dlq_replayer.selection import DlqEntry
from service_kit.kafka import consumer_options

logger = logging.getLogger(__name__)


@dataclass
class ScanResult:
    """Parsed entries plus how many records could not be parsed (left out, counted)."""

    entries: list[DlqEntry] = field(default_factory=list)
    invalid: int = 0
    scanned: int = 0


class DlqReader:
    """Scans one DLQ topic."""

    def __init__(
        self, bootstrap_servers: str, topic: str, timeout_s: float = 120.0, fetch_max_wait_ms: int = 10
    ):
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.timeout_s = timeout_s
        self._fetch_max_wait_ms = fetch_max_wait_ms

    async def scan(self, since: datetime | None = None) -> ScanResult:
        """Every record from ``since`` (a hint, see module doc) up to the end of each partition."""
        async with self._consumer() as (consumer, tps):
            ends = await consumer.end_offsets(tps)
            starts = await consumer.beginning_offsets(tps)
            if since is not None:
                starts = await self._seek_hint(consumer, tps, starts, ends, since)
            return await self._read(consumer, starts, ends, stops=None, wanted=None)

    async def fetch(self, positions: Collection[tuple[int, int]]) -> ScanResult:
        """The records at the given (partition, offset) positions (missing ones are simply absent)."""
        if not positions:
            return ScanResult()
        async with self._consumer() as (consumer, tps):
            ends = await consumer.end_offsets(tps)
            starts: dict[TopicPartition, int] = {}
            stops: dict[TopicPartition, int] = {}
            for tp in tps:
                offsets = [o for p, o in positions if p == tp.partition]
                if offsets:
                    starts[tp], stops[tp] = min(offsets), max(offsets) + 1
            return await self._read(consumer, starts, ends, stops, wanted=set(positions))

    async def _seek_hint(
        self,
        consumer: AIOKafkaConsumer,
        tps: list[TopicPartition],
        starts: dict[TopicPartition, int],
        ends: dict[TopicPartition, int],
        since: datetime,
    ) -> dict[TopicPartition, int]:
        try:
            found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
        except KafkaError as exc:
            logger.warning(
                "offsets_for_times failed, scanning from the beginning", extra={"error": type(exc).__name__}
            )
            return starts
        out = {}
        for tp in tps:
            hit = found.get(tp)
            # None means no record at or after `since` in this partition: nothing to read there.
            out[tp] = ends[tp] if hit is None else max(starts[tp], hit.offset)
        return out

    async def _read(
        self,
        consumer: AIOKafkaConsumer,
        starts: dict[TopicPartition, int],
        ends: dict[TopicPartition, int],
        stops: dict[TopicPartition, int] | None,
        wanted: set[tuple[int, int]] | None,
    ) -> ScanResult:
        """Read each partition from its start until it is drained (or past its stop offset).

        The end offsets are a lower bound only: the embedded broker under-reports the high
        watermark after a multi-record batch (5 records at offsets 0-4, end offset 1), so a
        partition counts as done only once it is past its end offset *and* a fetch came back
        empty, or a record written after the scan began was reached.
        """
        result = ScanResult()
        if not starts:
            return result
        consumer.assign(list(starts))
        for tp, start in starts.items():
            consumer.seek(tp, start)
        began_ms = int(time.time() * 1000)
        pending = set(starts)
        try:
            async with asyncio.timeout(self.timeout_s):
                while pending:
                    batches = await consumer.getmany(*pending, timeout_ms=100, max_records=2000)
                    fresh: set[TopicPartition] = set()
                    for tp, records in batches.items():
                        stop = stops[tp] if stops is not None else None
                        kept = [r for r in records if stop is None or r.offset < stop]
                        self._collect(tp, kept, wanted, result)
                        if any(r.timestamp > began_ms for r in records):
                            fresh.add(tp)
                    for tp in list(pending):
                        position = await consumer.position(tp)
                        past_stop = stops is not None and position >= stops[tp]
                        drained = position >= ends[tp] and (not batches or tp in fresh)
                        if past_stop or drained:
                            pending.discard(tp)
        except TimeoutError:
            raise UnavailableError(
                f"reading {self.topic} did not finish within {self.timeout_s:.0f} s (broker slow or unreachable)"
            ) from None
        except KafkaError as exc:
            raise UnavailableError(f"reading {self.topic} failed: {type(exc).__name__}: {exc}") from None
        return result

    def _collect(
        self,
        tp: TopicPartition,
        records: Iterable[ConsumerRecord[bytes, bytes]],
        wanted: set[tuple[int, int]] | None,
        result: ScanResult,
    ) -> None:
        for record in records:
            if wanted is not None and (tp.partition, record.offset) not in wanted:
                continue
            result.scanned += 1
            if record.value is None:
                result.invalid += 1
                continue
            try:
                letter = DeadLetterV1.model_validate_json(record.value)
            except ValidationError:
                result.invalid += 1
                logger.warning(
                    "unparseable record on the DLQ topic",
                    extra={"partition": tp.partition, "offset": record.offset},
                )
                continue
            headers = {k: v.decode(errors="replace") for k, v in (record.headers or ())}
            result.entries.append(
                DlqEntry(
                    partition=tp.partition,
                    offset=record.offset,
                    timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC),
                    letter=letter,
                    headers=headers,
                )
            )

    @contextlib.asynccontextmanager
    async def _consumer(self) -> AsyncIterator[tuple[AIOKafkaConsumer, list[TopicPartition]]]:
        """A started consumer and the topic's partitions; broker trouble becomes UnavailableError."""
        consumer = AIOKafkaConsumer(
            group_id=None,
            request_timeout_ms=15000,
            **consumer_options(self.bootstrap_servers, self._fetch_max_wait_ms),
        )
        try:
            await consumer.start()
        except KafkaError as exc:
            raise UnavailableError(
                f"cannot reach Kafka at {self.bootstrap_servers}: {type(exc).__name__}"
            ) from None
        try:
            partitions = None
            for _ in range(20):
                await consumer.topics()
                partitions = consumer.partitions_for_topic(self.topic)
                if partitions:
                    break
                await asyncio.sleep(0.1)
            if not partitions:
                raise UnavailableError(f"the DLQ topic {self.topic!r} does not exist")
            yield consumer, [TopicPartition(self.topic, p) for p in sorted(partitions)]
        except KafkaError as exc:
            raise UnavailableError(f"Kafka request failed: {type(exc).__name__}: {exc}") from None
        finally:
            await consumer.stop()
