"""The worker's commit loop: a finished job is committed within a commit interval; an idle worker does
not wake every interval to find nothing to commit."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.topics import Topics
from delivery_worker.consumer import JobConsumer
from delivery_worker.delivery import Deliverer
from delivery_worker.metrics import WorkerMetrics
from delivery_worker.outbox import Outbox

TP = TopicPartition("webhooks.deliveries", 0)


class _Consumer:
    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def highwater(self, tp: TopicPartition) -> int:
        return 10

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))


class _Deliverer:
    endpoints: Any = None


def _jobs(consumer: _Consumer, interval_s: float) -> JobConsumer:
    return JobConsumer(
        cast(AIOKafkaConsumer, consumer),
        cast(Deliverer, _Deliverer()),
        cast(Outbox, None),
        Topics(),
        WorkerMetrics(),
        subscribed=[TP.topic],
        max_pending=10,
        poll_timeout_ms=100,
        commit_interval_s=interval_s,
        due_tolerance_ms=0,
    )


async def test_an_idle_worker_does_not_wake_every_commit_interval() -> None:
    consumer = _Consumer()
    jobs = _jobs(consumer, interval_s=0.02)
    rounds = 0
    commit = jobs.commit

    async def counted(only: set[TopicPartition] | None = None) -> None:
        nonlocal rounds
        rounds += 1
        await commit(only)

    jobs.commit = counted  # type: ignore[method-assign]
    loop = asyncio.create_task(jobs._commit_loop())
    await asyncio.sleep(0.5)  # 25 commit intervals
    assert rounds == 0
    # A job finishes: its offset is committed within about one interval.
    assert jobs.tracker.start(TP, 0)
    jobs.pending, jobs.started[TP] = 1, 1
    jobs._finished(TP, 0, True)
    for _ in range(50):
        if consumer.commits:
            break
        await asyncio.sleep(0.01)
    assert consumer.commits == [{TP: 1}]
    await asyncio.sleep(0.3)  # idle again
    assert rounds == 1
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)
