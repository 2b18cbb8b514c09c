"""Helpers of the delivery-side tests: results on the real topic, waiting, reading topics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from config_api.deliveries.ingest import ResultsIngestor
from contracts.base import utcnow
from contracts.deliveries import DeliveryResultV1
from service_kit.kafka import assign_from_beginning, consumer_options, producer_options
from service_kit.kafka_security import embedded_broker_client


def make_result(
    webhook: dict[str, Any], delivery: str, outcome: str = "succeeded", **kw: Any
) -> DeliveryResultV1:
    values: dict[str, Any] = {
        "delivery_id": delivery,
        "webhook_id": webhook["id"],
        "integration_id": webhook["integration_id"],
        "event_id": f"ev-{delivery}",
        "event_type": "response_completed",
        "attempt": 1,
        "outcome": outcome,
        "attempted_at": utcnow(),
    }
    if outcome == "succeeded":
        values.update(status_code=200, response_ms=40)
    values.update(kw)
    return DeliveryResultV1(**values)


async def publish(bootstrap: str, topic: str, messages: Sequence[DeliveryResultV1 | bytes]) -> None:
    producer = AIOKafkaProducer(**producer_options(bootstrap, embedded_broker_client()))
    await producer.start()
    try:
        for message in messages:
            if isinstance(message, bytes):
                await producer.send(topic, message, key=b"garbage")
            else:
                await producer.send(topic, message.to_bytes(), key=message.webhook_id.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def wait_until(check: Callable[[], Any], timeout_s: float = 20.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def wait_ingested(ingestor: ResultsIngestor, seen: int, timeout_s: float = 20.0) -> None:
    """Until ``seen`` results were consumed (stored + duplicates + invalid)."""
    await wait_until(
        lambda: ingestor.stored + ingestor.duplicates + ingestor.invalid >= seen,
        timeout_s,
        f"{seen} results ingested",
    )


async def read_topic(
    bootstrap: str, topic: str, match: Callable[[bytes | None, bytes | None], bool], timeout_s: float = 15.0
) -> list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]:
    """Every record of ``topic`` so far (from the beginning) once one of them matches."""
    consumer = AIOKafkaConsumer(group_id=None, **consumer_options(bootstrap, embedded_broker_client(), 10))
    await consumer.start()
    try:
        await assign_from_beginning(consumer, topic)
        seen: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                seen += [(r.key, r.value, list(r.headers)) for r in records]
            if any(match(k, v) for k, v, _ in seen):
                return seen
        raise AssertionError(f"no matching record on {topic}")
    finally:
        await consumer.stop()


def iso(moment: datetime) -> str:
    return moment.isoformat()
