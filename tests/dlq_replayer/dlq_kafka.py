"""Kafka helpers of the DLQ replayer tests: produce dead letters and configs, read republished jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaTimeoutError

from contracts.deliveries import DeadLetterV1, DeliveryJobV1
from contracts.topics import Topics
from contracts.webhooks import WebhookConfigV1
from dlq_replayer.replay import PublisherProtocol
from service_kit.kafka import consumer_options, producer_options
from service_kit.kafka_security import embedded_broker_client


async def produce(
    bootstrap: str,
    topic: str,
    records: Sequence[tuple[bytes, bytes | None, datetime | None]],
    partition: int | None = None,
) -> None:
    """Produce (key, value, record time) records and wait for the broker's acks."""
    producer = AIOKafkaProducer(**producer_options(bootstrap, embedded_broker_client()))
    await producer.start()
    try:
        # Sent as batches on purpose: the embedded broker under-reports end offsets after a
        # multi-record batch, and the replayer's reads must still see every record.
        acks = []
        for key, value, at in records:
            ts = None if at is None else int(at.timestamp() * 1000)
            acks.append(await producer.send(topic, value, key=key, timestamp_ms=ts, partition=partition))
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


async def produce_letters(
    bootstrap: str, topics: Topics, letters: Sequence[DeadLetterV1], partition: int | None = None
) -> None:
    """Dead letters on the DLQ topic (key = webhook id, record time = dead_lettered_at)."""
    await produce(
        bootstrap,
        topics.deliveries_dlq,
        [(lt.job.webhook_id.encode(), lt.to_bytes(), lt.dead_lettered_at) for lt in letters],
        partition,
    )


async def publish_webhooks(bootstrap: str, topics: Topics, hooks: Sequence[WebhookConfigV1]) -> None:
    """Webhook configs on the compacted config topic."""
    await produce(bootstrap, topics.webhooks_config, [(h.id.encode(), h.to_bytes(), None) for h in hooks])


async def read_jobs(
    bootstrap: str, topic: str, expected: int, timeout_s: float = 15.0, settle_s: float = 0.5
) -> list[tuple[bytes | None, DeliveryJobV1, dict[str, bytes]]]:
    """Every job on ``topic`` once ``expected`` arrived (then waits ``settle_s`` to catch extras)."""
    records = await read_records(bootstrap, topic, expected, timeout_s, settle_s)
    return [(key, DeliveryJobV1.model_validate_json(value), headers) for key, value, headers in records]


async def read_records(
    bootstrap: str, topic: str, expected: int, timeout_s: float = 15.0, settle_s: float = 0.5
) -> list[tuple[bytes | None, bytes, dict[str, bytes]]]:
    """Every record (key, value, headers) on ``topic`` once ``expected`` arrived (then ``settle_s`` more)."""
    consumer = AIOKafkaConsumer(group_id=None, **consumer_options(bootstrap, embedded_broker_client(), 10))
    await consumer.start()
    out: list[tuple[bytes | None, bytes, dict[str, bytes]]] = []
    try:
        await consumer.topics()
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        settle_until: float | None = None
        while loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=100)
            for records in batches.values():
                for r in records:
                    assert r.value is not None
                    out.append((r.key, r.value, dict(r.headers or ())))
            if len(out) >= expected:
                settle_until = settle_until or loop.time() + settle_s
                if loop.time() >= settle_until:
                    break
    finally:
        await consumer.stop()
    return out


class FlakyPublisher:
    """Fault injection: the acks of the delivery ids in ``fail`` fail; the rest go to the real producer."""

    def __init__(self, real: PublisherProtocol, fail: set[str]) -> None:
        self.real = real
        self.fail = fail

    async def send(
        self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[Any]:
        if DeliveryJobV1.model_validate_json(value).delivery_id in self.fail:
            ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            ack.set_exception(KafkaTimeoutError())
            return ack
        return await self.real.send(topic, key, value, headers)
