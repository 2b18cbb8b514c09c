"""Handing records to a producer built from ``producer_options`` does not wait for the broker.

aiokafka keeps one produce request in flight per broker and one open batch per partition; once that
batch is full, ``send`` waits until the request in flight is answered. With aiokafka's 16 KB batches a
partition took ~6 delivery jobs per round trip and the dispatcher's handler stalled behind the broker
under load (docs/dispatcher.md, "Producing jobs"). On the real embedded broker: a round of jobs for one
partition is handed over without the handler ever yielding to the event loop.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from service_kit.kafka import producer_options
from service_kit.kafka_security import embedded_broker_client

pytestmark = pytest.mark.integration

JOB = b"j" * 2_500  # about a delivery job with an encrypted 1 KB body
ROUND = 200  # jobs one partition gets from a large polled batch (~500 KB)


async def _yields_while_handing_over(options: dict[str, object], topic: str) -> bool:
    producer = AIOKafkaProducer(**options)
    await producer.start()
    try:
        # Something else in flight first, as under load: the request the next batch must wait for.
        await producer.send(topic, JOB, partition=0)
        await asyncio.sleep(0)
        yielded = asyncio.Event()
        asyncio.get_running_loop().call_soon(yielded.set)  # runs only if a send suspends
        acks = [await producer.send(topic, JOB, partition=0) for _ in range(ROUND)]
        waited = yielded.is_set()
        await asyncio.gather(*acks)
        return waited
    finally:
        await producer.stop()


async def test_a_round_of_jobs_is_handed_over_without_waiting_for_the_broker(kafka_bootstrap: str) -> None:
    topic = f"batches.{uuid.uuid4().hex[:8]}"
    options = producer_options(kafka_bootstrap, embedded_broker_client())
    assert not await _yields_while_handing_over(options, topic)


async def test_with_aiokafkas_default_batches_the_same_round_waits(kafka_bootstrap: str) -> None:
    # The control: the same round with 16 KB batches suspends, so the test above can fail.
    topic = f"batches.{uuid.uuid4().hex[:8]}"
    options = {**producer_options(kafka_bootstrap, embedded_broker_client()), "max_batch_size": 16_384}
    assert await _yields_while_handing_over(options, topic)
