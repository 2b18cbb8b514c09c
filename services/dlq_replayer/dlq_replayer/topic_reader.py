"""Bounded reads of a whole topic with directly assigned partitions (no consumer group, nothing committed).

End offsets are only a lower bound: the embedded broker under-reports a partition's high
watermark after a multi-record batch (5 records at offsets 0-4, end offset 1). A partition
therefore counts as read once it is past its end offset *and* a fetch came back empty, or a
record written after the read began was reached (a live topic must not keep a read going).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from dlq_replayer.errors import UnavailableError
from service_kit.kafka import consumer_options
from service_kit.kafka_security import KafkaClientSettings

RecordHandler = Callable[[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]], None]


@contextlib.asynccontextmanager
async def assigned_consumer(
    bootstrap_servers: str, client: KafkaClientSettings, topic: str, fetch_max_wait_ms: int = 500
) -> AsyncIterator[tuple[AIOKafkaConsumer, list[TopicPartition]]]:
    """A started consumer and the topic's partitions; broker trouble becomes UnavailableError."""
    consumer = AIOKafkaConsumer(
        group_id=None,
        request_timeout_ms=15000,
        **consumer_options(bootstrap_servers, client, fetch_max_wait_ms),
    )
    try:
        await consumer.start()
    except BaseException as exc:
        # A failed or cancelled start (the request abandoned) leaves a client behind, and an
        # "Unclosed AIOKafkaConsumer" warning, unless the consumer is stopped.
        await consumer.stop()
        if isinstance(exc, KafkaError):
            raise UnavailableError(
                f"cannot reach Kafka at {bootstrap_servers}: {type(exc).__name__}"
            ) from None
        raise
    try:
        partitions = None
        for _ in range(20):
            await consumer.topics()
            partitions = consumer.partitions_for_topic(topic)
            if partitions:
                break
            await asyncio.sleep(0.1)
        if not partitions:
            raise UnavailableError(f"the topic {topic!r} does not exist")
        yield consumer, [TopicPartition(topic, p) for p in sorted(partitions)]
    except KafkaError as exc:
        raise UnavailableError(f"reading {topic} failed: {type(exc).__name__}: {exc}") from None
    finally:
        await consumer.stop()


async def drain(
    consumer: AIOKafkaConsumer,
    starts: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
    handle: RecordHandler,
    timeout_s: float,
    stops: dict[TopicPartition, int] | None = None,
) -> None:
    """Pass every record from ``starts`` to the end (or before ``stops``) of each partition to ``handle``."""
    if not starts:
        return
    consumer.assign(list(starts))
    for tp, start in starts.items():
        consumer.seek(tp, start)
    began_ms = int(time.time() * 1000)
    pending = set(starts)
    try:
        async with asyncio.timeout(timeout_s):
            while pending:
                batches = await consumer.getmany(*pending, timeout_ms=100, max_records=2000)
                fresh: set[TopicPartition] = set()
                for tp, records in batches.items():
                    stop = stops.get(tp) if stops is not None else None
                    handle(tp, [r for r in records if stop is None or r.offset < stop])
                    if any(r.timestamp > began_ms for r in records):
                        fresh.add(tp)
                for tp in list(pending):
                    position = await consumer.position(tp)
                    past_stop = stops is not None and position >= stops[tp]
                    drained = position >= ends.get(tp, 0) and (not batches or tp in fresh)
                    if past_stop or drained:
                        pending.discard(tp)
    except TimeoutError:
        topic = next(iter(starts)).topic
        raise UnavailableError(
            f"reading {topic} did not finish within {timeout_s:.0f} s (broker slow or unreachable)"
        ) from None
