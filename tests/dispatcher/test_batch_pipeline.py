"""Pipelined batches: commits in poll order, never past an unacknowledged batch; rewinds after a failure."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaTimeoutError

from dispatcher.pipeline import BatchPipeline, commit_prefix, rewind_targets

A0, A1, B0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)


class _Consumer:
    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.seeks: dict[TopicPartition, int] = {}
        self.assigned = {A0, A1, B0}

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks[tp] = offset


def _records(tp: TopicPartition, first: int, last: int) -> list[ConsumerRecord[bytes, bytes]]:
    return [
        ConsumerRecord(tp.topic, tp.partition, o, 0, 0, b"k", b"v", None, 1, 1, [])
        for o in range(first, last + 1)
    ]


def _started(depth: int) -> tuple[_Consumer, BatchPipeline, asyncio.Task[None]]:
    """A pipeline over the fake consumer, with its commit loop running."""
    consumer = _Consumer()
    pipeline = BatchPipeline(lambda: cast(AIOKafkaConsumer, consumer), depth=depth)
    return consumer, pipeline, asyncio.create_task(pipeline.run())


def _future() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        ([], {}),
        ([({A0: 10}, {A0: 20})], {A0: 10}),
        ([({A0: 10}, {A0: 20}), ({A0: 20, B0: 3}, {A0: 25, B0: 4})], {A0: 10, B0: 3}),
        ([({B0: 7}, {B0: 8}), ({B0: 5}, {B0: 6})], {B0: 5}),  # a batch read again after a rebalance
    ],
)
def test_rewind_targets_are_the_earliest_uncommitted_offsets(
    spans: list[tuple[dict[TopicPartition, int], dict[TopicPartition, int]]],
    expected: dict[TopicPartition, int],
) -> None:
    assert rewind_targets(spans) == expected


def test_commit_prefix_takes_the_latest_offset_of_each_partition() -> None:
    assert commit_prefix([{A0: 10}, {A0: 20, B0: 3}, {B0: 9}]) == {A0: 20, B0: 9}


async def test_a_later_acknowledged_batch_is_not_committed_before_an_earlier_one() -> None:
    consumer, pipeline, committer = _started(depth=4)
    first, second = _future(), _future()
    pipeline.add(_records(A0, 0, 9), first)
    pipeline.add(_records(A0, 10, 19) + _records(B0, 0, 4), second)
    second.set_result(None)
    await _settle()
    assert consumer.commits == []  # the first batch is still unacknowledged
    first.set_result(None)
    await _settle()
    assert consumer.commits == [{A0: 20, B0: 5}]  # both, in one commit
    assert len(pipeline) == 0
    committer.cancel()


async def test_a_refused_batch_stops_commits_and_the_rewind_reads_everything_unfinished_again() -> None:
    consumer, pipeline, committer = _started(depth=4)
    ok, refused, later = _future(), _future(), _future()
    pipeline.add(_records(A0, 0, 9), ok)
    pipeline.add(_records(A0, 10, 19) + _records(A1, 50, 59), refused)
    pipeline.add(_records(A0, 20, 29) + _records(B0, 7, 8), later)
    ok.set_result(None)
    refused.set_exception(KafkaTimeoutError())
    later.set_result(None)
    await _settle()
    assert consumer.commits == [{A0: 10}]
    assert pipeline.failed
    await asyncio.wait_for(pipeline.wait_for_room(), 1)  # a failed pipeline never blocks the handler
    # A batch polled after the failure is dropped with the rest and read again too.
    pipeline.rewind(
        cast(AIOKafkaConsumer, consumer), _records(A1, 60, 61) + _records(TopicPartition("c", 2), 4, 4)
    )
    assert consumer.seeks == {A0: 10, A1: 50, B0: 7, TopicPartition("c", 2): 4}
    assert not pipeline.failed and len(pipeline) == 0
    await _settle()
    assert consumer.commits == [{A0: 10}]
    committer.cancel()


async def test_room_waits_for_the_oldest_batch_and_commits_skip_revoked_partitions() -> None:
    consumer, pipeline, committer = _started(depth=2)
    first, second = _future(), _future()
    pipeline.add(_records(A0, 0, 0), first)
    pipeline.add(_records(B0, 0, 0), second)
    room = asyncio.create_task(pipeline.wait_for_room())
    await _settle()
    assert not room.done()
    consumer.assigned = {B0}  # A0 revoked meanwhile: its new owner reads it from the last commit
    first.set_result(None)
    await asyncio.wait_for(room, 1)
    second.set_result(None)
    await asyncio.wait_for(pipeline.drain(1), 2)
    assert consumer.commits == [{B0: 1}]
    committer.cancel()


async def test_drain_is_bounded() -> None:
    _, pipeline, committer = _started(depth=2)
    committer.cancel()
    pipeline.add(_records(A0, 0, 0), _future())
    await asyncio.wait_for(pipeline.drain(0.05), 1)
    assert len(pipeline) == 1


async def test_commits_are_coalesced_over_the_commit_interval() -> None:
    consumer = _Consumer()
    pipeline = BatchPipeline(lambda: cast(AIOKafkaConsumer, consumer), depth=8, commit_interval_s=0.3)
    committer = asyncio.create_task(pipeline.run())
    batches = [_future() for _ in range(3)]
    for n, acks in enumerate(batches):
        pipeline.add(_records(A0, 10 * n, 10 * n + 9), acks)
    batches[0].set_result(None)
    await _settle()
    assert consumer.commits == [{A0: 10}]  # the first one at once: no commit in the last interval
    batches[1].set_result(None)
    batches[2].set_result(None)
    await _settle()
    assert consumer.commits == [{A0: 10}]  # acknowledged, waiting for the interval
    assert len(pipeline) == 0  # no longer in flight: the handler has room meanwhile
    await asyncio.sleep(0.45)
    assert consumer.commits == [{A0: 10}, {A0: 30}]  # both in one commit
    committer.cancel()


async def test_drain_commits_what_waits_for_the_interval() -> None:
    consumer = _Consumer()
    pipeline = BatchPipeline(lambda: cast(AIOKafkaConsumer, consumer), depth=8, commit_interval_s=60)
    committer = asyncio.create_task(pipeline.run())
    first, second = _future(), _future()
    pipeline.add(_records(B0, 0, 4), first)
    pipeline.add(_records(B0, 5, 9), second)
    first.set_result(None)
    await _settle()
    second.set_result(None)
    await _settle()
    assert consumer.commits == [{B0: 5}]
    await asyncio.wait_for(pipeline.drain(1), 2)
    assert consumer.commits == [{B0: 5}, {B0: 10}]
    committer.cancel()


async def test_room_does_not_wait_for_a_slow_commit() -> None:
    class _SlowCommits(_Consumer):
        def __init__(self) -> None:
            super().__init__()
            self.answer = asyncio.Event()

        async def commit(self, offsets: dict[TopicPartition, int]) -> None:
            await self.answer.wait()
            await super().commit(offsets)

    consumer = _SlowCommits()
    pipeline = BatchPipeline(lambda: cast(AIOKafkaConsumer, consumer), depth=1)
    committer = asyncio.create_task(pipeline.run())
    first, second = _future(), _future()
    pipeline.add(_records(A0, 0, 0), first)
    first.set_result(None)
    await _settle()  # the commit of the first batch is now waiting for the broker
    pipeline.add(_records(A0, 1, 1), second)
    room = asyncio.create_task(pipeline.wait_for_room())
    await _settle()
    assert not room.done()
    second.set_result(None)
    await asyncio.wait_for(room, 1)  # acknowledged is enough: the commit is still unanswered
    assert consumer.commits == []
    consumer.answer.set()
    await asyncio.wait_for(pipeline.drain(1), 2)
    assert consumer.commits == [{A0: 1}, {A0: 2}]
    committer.cancel()
