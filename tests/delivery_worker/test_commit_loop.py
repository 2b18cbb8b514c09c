"""The job consumer's commit loop: commits soon after jobs finish, sleeps while none does.

A fake Kafka consumer (no broker): what is checked is when the loop asks the consumer for anything,
which the embedded broker cannot show. The end-to-end commit behaviour is covered on the embedded
broker by test_worker_rebalance and test_worker_property.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry

from contracts.topics import Topics
from delivery_worker import consumer as consumer_module
from delivery_worker.consumer import JobConsumer
from delivery_worker.endpoints import Endpoints
from delivery_worker.metrics import WorkerMetrics
from delivery_worker.outbox import Publication
from service_kit.config_view import WebhookView

TOPICS = Topics().with_prefix("commitloop.")
TP = TopicPartition(TOPICS.deliveries, 0)


class FakeConsumer:
    """Hands out queued records on ``getmany``; counts the calls the commit loop makes."""

    def __init__(self) -> None:
        self.queue: list[ConsumerRecord[bytes, bytes]] = []
        self.commits: list[dict[TopicPartition, int]] = []
        self.highwater_calls = 0
        self.arrived = asyncio.Event()

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def paused(self) -> set[TopicPartition]:
        return set()

    def highwater(self, tp: TopicPartition) -> int:
        self.highwater_calls += 1  # only the lag refresh asks
        return 100

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        if not self.queue and timeout_ms:
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), timeout_ms / 1000)
            except TimeoutError:
                return {}
        batch, self.queue = self.queue, []
        return {TP: batch} if batch else {}

    def add(self, offset: int) -> None:
        self.queue.append(ConsumerRecord(TP.topic, 0, offset, 0, 0, b"wh_1", b"{}", None, 2, 2, []))
        self.arrived.set()


class InstantOutbox:
    """Acknowledges every job's records at once."""

    def enqueue(self, items: Sequence[Publication], done: Callable[[], None]) -> None:
        done()


async def no_records(record: Any) -> list[Publication]:
    return []


@pytest.fixture
def consumer_and_jobs() -> tuple[FakeConsumer, JobConsumer]:
    metrics = WorkerMetrics(CollectorRegistry())
    deliverer = SimpleNamespace(
        endpoints=Endpoints(WebhookView(), metrics, max_queued_per_webhook=200, park_after_s=1.0),
        handle=no_records,
    )
    fake = FakeConsumer()
    # Structural fakes of the aiokafka consumer, the Deliverer and the Outbox: only the methods the
    # fetch and commit loops call (the ignores say so to a type checker; tests are not type-checked).
    jobs = JobConsumer(
        fake,  # type: ignore[arg-type]
        deliverer,  # type: ignore[arg-type]
        InstantOutbox(),  # type: ignore[arg-type]
        TOPICS,
        metrics,
        subscribed=[TOPICS.deliveries],
        max_pending=100,
        poll_timeout_ms=20,
        commit_interval_s=0.02,
        due_tolerance_ms=200,
    )
    return fake, jobs


async def until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_an_idle_consumer_commits_nothing_and_does_not_wake_for_it(
    consumer_and_jobs: tuple[FakeConsumer, JobConsumer],
) -> None:
    fake, jobs = consumer_and_jobs
    runner = asyncio.create_task(jobs.run())
    try:
        fake.add(0)
        fake.add(1)
        await until(lambda: fake.commits == [{TP: 2}])
        await asyncio.sleep(0.3)  # the commit loop's next tick finds nothing to commit and starts to sleep
        calls = fake.highwater_calls
        await asyncio.sleep(0.5)  # 25 ticks of 20 ms: the loop used to refresh the lag at each
        assert fake.highwater_calls == calls
        assert fake.commits == [{TP: 2}]
        fake.add(2)  # the first job to finish wakes it: committed within a tick or two
        await until(lambda: fake.commits[-1] == {TP: 3}, timeout_s=1.0)
    finally:
        jobs.stopping.set()
        await runner


async def test_an_idle_consumer_still_refreshes_its_lag(
    consumer_and_jobs: tuple[FakeConsumer, JobConsumer], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, jobs = consumer_and_jobs
    monkeypatch.setattr(consumer_module, "LAG_REFRESH_S", 0.1)
    lags: list[int] = []
    monkeypatch.setattr(jobs.metrics, "set_lag", lambda group, topic, partition, lag: lags.append(lag))
    runner = asyncio.create_task(jobs.run())
    try:
        fake.add(0)
        await until(lambda: bool(lags))
        assert lags[-1] == 99  # highwater 100, next offset to run 1
        seen = len(lags)
        await asyncio.sleep(0.5)
        assert 2 <= len(lags) - seen <= 8  # every 0.1 s while idle, not at every 20 ms tick
    finally:
        jobs.stopping.set()
        await runner
