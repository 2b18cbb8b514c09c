"""Reads the DLQ topic: a scan of every partition to its end, or a fetch of given offsets.

Reading never changes what the next reader sees (see ``topic_reader``). With ``since`` the scan
starts at the broker's offsets-for-times answer, but that answer is only a hint (the embedded
broker answers offset 0 for any time), so the caller still filters by record time.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from contracts.deliveries import DeadLetterV1
from contracts.headers import headers_as_text
from dlq_replayer.selection import DlqEntry
from dlq_replayer.topic_reader import assigned_consumer, drain
from service_kit.kafka_security import KafkaClientSettings

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
        self,
        bootstrap_servers: str,
        client: KafkaClientSettings,
        topic: str,
        timeout_s: float = 120.0,
        fetch_max_wait_ms: int = 500,
    ):
        self.bootstrap_servers = bootstrap_servers
        self.client = client
        self.topic = topic
        self.timeout_s = timeout_s
        self._fetch_max_wait_ms = fetch_max_wait_ms

    async def scan(self, since: datetime | None = None) -> ScanResult:
        """Every record from ``since`` (a hint, see module doc) up to the end of each partition."""
        async with assigned_consumer(
            self.bootstrap_servers, self.client, self.topic, self._fetch_max_wait_ms
        ) as (
            consumer,
            tps,
        ):
            ends = await consumer.end_offsets(tps)
            starts = await consumer.beginning_offsets(tps)
            if since is not None:
                starts = await self._seek_hint(consumer, tps, starts, ends, since)
            return await self._read(consumer, starts, ends, stops=None, wanted=None)

    async def fetch(self, positions: Collection[tuple[int, int]]) -> ScanResult:
        """The records at the given (partition, offset) positions (missing ones are simply absent)."""
        if not positions:
            return ScanResult()
        async with assigned_consumer(
            self.bootstrap_servers, self.client, self.topic, self._fetch_max_wait_ms
        ) as (
            consumer,
            tps,
        ):
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
        result = ScanResult()

        def handle(tp: TopicPartition, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
            self._collect(tp, records, wanted, result)

        await drain(consumer, starts, ends, handle, self.timeout_s, stops)
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
            headers = headers_as_text(record.headers)  # a header without a value (None) is left out
            result.entries.append(
                DlqEntry(
                    partition=tp.partition,
                    offset=record.offset,
                    timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC),
                    letter=letter,
                    headers=headers,
                )
            )
