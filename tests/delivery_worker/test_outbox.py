"""The worker's outbox: batches per partition, one callback per job after every record is acknowledged."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner

from contracts.topics import Topics
from delivery_worker.outbox import Outbox, Publication
from service_kit.kafka import assign_from_beginning, consumer_options, producer_options
from service_kit.kafka_security import embedded_broker_client

pytestmark = pytest.mark.integration


async def _read_all(bootstrap: str, topic: str, count: int) -> list[Any]:
    consumer = AIOKafkaConsumer(group_id=None, **consumer_options(bootstrap, embedded_broker_client(), 10))
    await consumer.start()
    try:
        await assign_from_beginning(consumer, topic)
        records: list[Any] = []
        for _ in range(100):
            batch = await consumer.getmany(timeout_ms=100)
            records.extend(r for rs in batch.values() for r in rs)
            if len(records) >= count:
                break
        return records
    finally:
        await consumer.stop()


async def test_records_land_where_a_plain_send_would_and_each_job_hears_once(
    kafka_bootstrap: str, topics: Topics
) -> None:
    producer = AIOKafkaProducer(**producer_options(kafka_bootstrap, embedded_broker_client()))
    await producer.start()
    outbox = Outbox(producer, asyncio.Event())
    outbox.start()
    try:
        done: list[str] = []
        jobs = {
            f"job{n}": [
                Publication(
                    topics.delivery_results, f"wh_{n % 5}", f"result {n}".encode(), [("h", str(n).encode())]
                ),
                *(
                    [Publication(topics.retry_topics()[1], f"wh_{n % 5}", f"hop {n}".encode())]
                    if n % 3 == 0
                    else []
                ),
            ]
            for n in range(40)
        }
        for name, items in jobs.items():
            outbox.enqueue(items, lambda name=name: done.append(name))
        outbox.enqueue([], lambda: done.append("nothing to publish"))
        assert await outbox.wait_idle(15)
        assert sorted(done) == sorted([*jobs, "nothing to publish"])  # once each

        results = await _read_all(kafka_bootstrap, topics.delivery_results, 40)
        hops = await _read_all(kafka_bootstrap, topics.retry_topics()[1], 14)
        assert len(results) == 40 and len(hops) == 14
        oracle = DefaultPartitioner()
        for record in [*results, *hops]:
            partitions = sorted(producer.client.cluster.partitions_for_topic(record.topic))
            assert record.partition == oracle(record.key, partitions, partitions)
        by_value = {r.value: r for r in results}
        assert list(by_value[b"result 7"].headers) == [("h", b"7")]
    finally:
        await outbox.stop()
        await producer.stop()


class _Batch:
    def __init__(self) -> None:
        self.records: list[bytes] = []

    def append(
        self, *, key: bytes, value: bytes, timestamp: None, headers: list[tuple[str, bytes]]
    ) -> object:
        self.records.append(value)
        return object()

    def close(self) -> None:
        pass


class _FlakyProducer:
    """Fails the first ``failures`` batches with a Kafka error, then acknowledges (metadata: 3 partitions)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.acked: list[bytes] = []
        self.client = type(
            "C", (), {"cluster": type("M", (), {"partitions_for_topic": lambda _s, _t: {0, 1, 2}})()}
        )()

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.failures > 0:
            self.failures -= 1
            future.set_exception(KafkaConnectionError())
        else:
            self.acked.extend(batch.records)
            future.set_result(None)
        return future


async def test_a_failed_round_is_retried_and_a_job_hears_only_when_all_is_acked() -> None:
    producer = _FlakyProducer(failures=2)
    outbox = Outbox(producer, asyncio.Event())
    outbox.start()
    try:
        done: list[int] = []
        outbox.enqueue([Publication("t", "a", b"1"), Publication("t", "b", b"2")], lambda: done.append(1))
        assert await outbox.wait_idle(10)
        assert done == [1]
        assert sorted(producer.acked) == [b"1", b"2"]
    finally:
        await outbox.stop()


async def test_while_stopping_records_that_keep_failing_are_given_up_uncommitted() -> None:
    producer = _FlakyProducer(failures=1_000)
    stopping = asyncio.Event()
    stopping.set()
    outbox = Outbox(producer, stopping)
    outbox.start()
    try:
        done: list[int] = []
        outbox.enqueue([Publication("t", "a", b"1")], lambda: done.append(1))
        assert await outbox.wait_idle(10)  # it gave up rather than blocking the shutdown
        assert done == []  # never reported: the job's offset is not committed
        assert producer.acked == []
    finally:
        await outbox.stop()


class _SizeLimitedProducer(_FlakyProducer):
    """Refuses (for ever) any batch holding a record over ``limit`` bytes, like a broker's max.message.bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(failures=0)
        self.limit = limit
        self.refusals = 0

    async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if any(len(r) > self.limit for r in batch.records):
            self.refusals += 1
            future.set_exception(MessageSizeTooLargeError())
        else:
            self.acked.extend(batch.records)
            future.set_result(None)
        return future


async def test_a_record_refused_as_too_large_is_replaced_by_its_fallback_never_retried() -> None:
    producer = _SizeLimitedProducer(limit=100)
    outbox = Outbox(producer, asyncio.Event())
    outbox.start()
    try:
        done: list[str] = []
        small = Publication("t", "a", b"fallback")
        outbox.enqueue(
            [Publication("t", "a", b"x" * 1000, fallback=lambda: small), Publication("t", "b", b"ok")],
            lambda: done.append("with fallback"),
        )
        outbox.enqueue([Publication("t", "c", b"y" * 1000)], lambda: done.append("without"))
        assert await outbox.wait_idle(10)
        assert sorted(done) == ["with fallback", "without"]  # both jobs finish: their offsets may commit
        assert sorted(producer.acked) == [b"fallback", b"ok"]
        assert outbox.refused == 2  # given up once each, not retried
        # At most once in a shared batch (then each record of it goes alone) and once alone.
        assert 2 <= producer.refusals <= 4
    finally:
        await outbox.stop()
