"""Consumer of ``webhooks.delivery-results``: attempt log, rollups and auto-deactivation input.

Raw aiokafka (not FastStream) because the loop needs fine control: a batch is stored in one
PostgreSQL transaction, offsets are committed only after that commit, and while PostgreSQL is
down the partitions are paused (the consumer keeps polling so it stays in its group) and the same
batch is retried until it is stored. Nothing is lost and, thanks to the idempotent insert in
:mod:`config_api.deliveries.store`, nothing is counted twice when a batch is re-consumed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from pydantic import ValidationError

from config_api.deliveries.health import Thresholds
from config_api.deliveries.store import store_results
from config_api.metrics import BASE, RESULTS_CONSUMED
from contracts.deliveries import DeliveryResultV1
from service_kit.kafka import consumer_options
from service_kit.kafka_security import KafkaClientSettings
from service_kit.tracing import SpanKind, links, span_from, tracer
from webhook_core.secrets_crypto import SecretBox

logger = logging.getLogger(__name__)


DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)
"""What "PostgreSQL is unavailable" looks like; the batch is retried, never dropped."""


def parse_result(value: bytes | None) -> DeliveryResultV1 | None:
    """The result in a record value, or None when it is not a valid ``delivery_result.v1``."""
    if value is None:
        return None
    try:
        return DeliveryResultV1.model_validate_json(value)
    except ValidationError:
        return None


def group_id_for(results_topic: str) -> str:
    """Consumer group of the config API; derived from the topic so each test prefix has its own."""
    return f"config-api:{results_topic}"


class ResultsIngestor:
    """Consumes delivery results in batches into PostgreSQL."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        bootstrap_servers: str,
        client: KafkaClientSettings,
        topic: str,
        thresholds: Thresholds,
        after_store: Callable[[], Awaitable[None]] | None = None,
        fetch_max_wait_ms: int = 500,
        max_records: int = 5000,
        retry_delay_s: float = 0.2,
        max_retry_delay_s: float = 5.0,
        box: SecretBox | None = None,
    ) -> None:
        self.pool = pool
        self.box = box  # seals response excerpts; without it they are not stored
        self.topic = topic
        self.thresholds = thresholds
        self._after_store = after_store
        self._options = consumer_options(bootstrap_servers, client, fetch_max_wait_ms)
        self._max_records = max_records
        self._retry_delay_s = retry_delay_s
        self._max_retry_delay_s = max_retry_delay_s
        self.stored = 0
        self.duplicates = 0
        self.invalid = 0
        self.db_failures = 0
        self._tracer = tracer("carehooks.config_api")

    async def run(self) -> None:
        """Consume until cancelled (Kafka or PostgreSQL outages are waited out)."""
        consumer = await self._start_consumer()
        try:
            while True:
                batches = await self._fetch(consumer)
                if batches:
                    await self._handle(consumer, batches)
        finally:
            await consumer.stop()

    async def _start_consumer(self) -> AIOKafkaConsumer:
        delay = self._retry_delay_s
        while True:
            consumer = AIOKafkaConsumer(self.topic, group_id=group_id_for(self.topic), **self._options)
            try:
                await consumer.start()
                return consumer
            except KafkaError as exc:
                await consumer.stop()
                logger.warning("results consumer cannot start, retrying", extra={"error": type(exc).__name__})
            except BaseException:
                # Cancelled while starting (the API shutting down during a broker outage): a consumer
                # never stopped leaves its client behind ("Unclosed AIOKafkaConsumer").
                await consumer.stop()
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_retry_delay_s)

    async def _fetch(
        self, consumer: AIOKafkaConsumer
    ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        try:
            batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = await consumer.getmany(
                timeout_ms=500, max_records=self._max_records
            )
            return batches
        except KafkaError as exc:
            logger.warning("results fetch failed, retrying", extra={"error": type(exc).__name__})
            await asyncio.sleep(self._retry_delay_s)
            return {}

    async def _handle(
        self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> None:
        # One span per stored batch, linked to the attempt spans whose results it holds.
        batch_links = links(self._tracer, (r.headers for records in batches.values() for r in records))
        with span_from(self._tracer, "results ingest", kind=SpanKind.CONSUMER, links=batch_links) as span:
            if span.is_recording():
                span.set_attribute("messaging.batch.message_count", sum(map(len, batches.values())))
            await self._ingest(consumer, batches)

    async def _ingest(
        self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> None:
        results: list[DeliveryResultV1] = []
        offsets: dict[TopicPartition, int] = {}
        for tp, records in batches.items():
            for record in records:
                result = parse_result(record.value)
                if result is None:
                    self.invalid += 1
                    RESULTS_CONSUMED.labels("invalid").inc()
                    logger.warning(
                        "skipped an invalid delivery result",
                        extra={"partition": tp.partition, "offset": record.offset},
                    )
                else:
                    results.append(result)
            offsets[tp] = records[-1].offset + 1
        if results:
            await self._store_until_done(consumer, results)
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The group rebalanced while we worked: the new owner re-reads these results, which the
            # idempotent insert turns into no-ops.
            logger.warning("results offset commit failed", extra={"error": type(exc).__name__})
            return
        for tp, next_offset in offsets.items():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                BASE.set_lag(group_id_for(self.topic), tp.topic, tp.partition, highwater - next_offset)

    async def _store_until_done(self, consumer: AIOKafkaConsumer, results: list[DeliveryResultV1]) -> None:
        delay = self._retry_delay_s
        paused: set[TopicPartition] = set()
        try:
            while True:
                try:
                    new = await self._store(results)
                    break
                except DB_ERRORS as exc:
                    self.db_failures += 1
                    logger.warning(
                        "storing delivery results failed, retrying the batch",
                        extra={"error": type(exc).__name__, "results": len(results)},
                    )
                    paused |= set(consumer.assignment())  # re-read: a rebalance may have changed it
                    consumer.pause(*paused)
                    # Polling a paused consumer returns nothing but keeps the group membership alive.
                    await self._fetch_quietly(consumer, delay)
                    delay = min(delay * 2, self._max_retry_delay_s)
        finally:
            if paused:
                consumer.resume(*(paused & set(consumer.assignment())))
        self.stored += len(new)
        self.duplicates += len(results) - len(new)
        RESULTS_CONSUMED.labels("stored").inc(len(new))
        RESULTS_CONSUMED.labels("duplicate").inc(len(results) - len(new))
        if self._after_store is not None:
            await self._after_store()

    async def _fetch_quietly(self, consumer: AIOKafkaConsumer, wait_s: float) -> None:
        try:
            stray = await consumer.getmany(timeout_ms=int(wait_s * 1000), max_records=1)
        except KafkaError:
            await asyncio.sleep(wait_s)
            return
        for tp, records in stray.items():
            # A partition assigned during the wait was not paused yet: rewind so nothing is skipped.
            consumer.seek(tp, records[0].offset)

    async def _store(self, results: list[DeliveryResultV1]) -> list[DeliveryResultV1]:
        async with self.pool.acquire() as conn:
            try:
                return await store_results(conn, results, self.thresholds, self.box)
            except asyncpg.DataError:
                logger.warning("PostgreSQL rejected a result of the batch, storing one by one")
            # One malformed result must not block the stream: store one by one, drop what PostgreSQL rejects.
            new: list[DeliveryResultV1] = []
            for result in results:
                try:
                    new += await store_results(conn, [result], self.thresholds, self.box)
                except asyncpg.DataError as exc:
                    self.invalid += 1
                    RESULTS_CONSUMED.labels("rejected").inc()
                    logger.warning(
                        "PostgreSQL rejected a delivery result, skipped",
                        extra={"delivery_id": result.delivery_id, "error": type(exc).__name__},
                    )
            return new
