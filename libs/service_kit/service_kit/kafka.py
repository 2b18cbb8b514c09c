"""Kafka client options and topic administration shared by the services.

Every client is built from :class:`service_kit.kafka_security.KafkaClientSettings` (TLS, SASL,
client id, idempotence). Producers are idempotent by default; the embedded Tansu broker does not
implement InitProducerId, so `make run` and the tests turn it off. Delivery is at-least-once either
way, with stable message ids for de-duplication.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner, murmur2

from contracts.topics import Topics
from service_kit.kafka_security import KafkaClientSettings

logger = logging.getLogger(__name__)
T = TypeVar("T")


@lru_cache(maxsize=65536)
def _key_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


def key_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka's default partitioner (Java-compatible murmur2) with the hash memoised per key.

    Keys are webhook ids, a small set produced to again and again, and aiokafka's murmur2 is pure
    Python: hashing each key once takes it off the per-record path of the worker and dispatcher.
    """
    if key is None:
        return int(DefaultPartitioner()(key, all_partitions, available))
    return all_partitions[_key_hash(key) % len(all_partitions)]


def producer_options(bootstrap_servers: str, client: KafkaClientSettings) -> dict[str, Any]:
    """Options for every AIOKafkaProducer (acks=all, idempotent where the broker supports it, small linger,
    large batches)."""
    return {
        **client.client_options(),
        "bootstrap_servers": bootstrap_servers,
        "partitioner": key_partitioner,
        "acks": "all",
        "enable_idempotence": client.kafka_enable_idempotence,
        "linger_ms": 2,
        "request_timeout_ms": 15000,
        "max_request_size": 4 * 1024 * 1024,
        # aiokafka keeps one produce request in flight per broker and one open batch per partition, and
        # `send` waits once that batch is full until the request in flight is answered. At its 16 KB a
        # partition took ~6 delivery jobs per produce round trip: under load the dispatcher's handler
        # blocked behind the broker (job produced p99 17 ms, end to end 162 ms at 800 events/s, against
        # 9 and 80 with 1 MiB; docs/dispatcher.md). The topics take 5 MiB records (deploy/topics.yaml).
        "max_batch_size": 1 << 20,
    }


FETCHER_WAKE_MS = 1000
"""aiokafka's ``consumer_timeout_ms`` (its default 200): how often a consumer's background fetch task
wakes while a fetch is in flight, only to find nothing to do. Every event it must react to (records
consumed, seek, resume, reassignment, a fetch answered) wakes it at once; the timeout is a safety net.
At 200 ms an idle worker's three consumers woke 15 times a second for nothing: 1,000 ms took the
idle worker from 0.013 to 0.009 cores (2026-12-03, real-cluster settings)."""


def consumer_options(
    bootstrap_servers: str, client: KafkaClientSettings, fetch_max_wait_ms: int = 500
) -> dict[str, Any]:
    """Options for every AIOKafkaConsumer (manual commits; Kafka's long poll unless told otherwise)."""
    return {
        "consumer_timeout_ms": FETCHER_WAKE_MS,
        **client.client_options(),
        "bootstrap_servers": bootstrap_servers,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "fetch_max_wait_ms": fetch_max_wait_ms,
        "fetch_min_bytes": 1,
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
    }


def admin_client(bootstrap_servers: str, client: KafkaClientSettings) -> AIOKafkaAdminClient:
    """An admin client (not started) with the shared connection settings."""
    return AIOKafkaAdminClient(
        **client.client_options(), bootstrap_servers=bootstrap_servers, request_timeout_ms=10000
    )


class MissingTopicsError(RuntimeError):
    """Topics a service needs are not on the cluster and creating them is not this service's job."""

    def __init__(self, bootstrap_servers: str, names: list[str]) -> None:
        super().__init__(
            f"topics missing on {bootstrap_servers}: {', '.join(names)} (provision them with "
            "`python -m service_kit.topics apply`, or set KAFKA_AUTO_CREATE_TOPICS=true)"
        )
        self.names = names


async def _with_admin(
    bootstrap_servers: str,
    client: KafkaClientSettings,
    attempts: int,
    action: Callable[[AIOKafkaAdminClient], Awaitable[T]],
) -> T:
    for attempt in range(1, attempts + 1):
        admin = admin_client(bootstrap_servers, client)
        try:
            await admin.start()
            return await action(admin)
        except KafkaError as exc:
            if attempt == attempts:
                raise
            logger.warning(
                "kafka not ready for topic administration, retrying", extra={"error": type(exc).__name__}
            )
            await asyncio.sleep(min(2.0, 0.2 * attempt))
        finally:
            await admin.close()
    raise AssertionError("unreachable: attempts >= 1")


async def ensure_topics(
    bootstrap_servers: str,
    topics: Topics,
    client: KafkaClientSettings,
    partitions: int | None = None,
    replication_factor: int = 1,
    attempts: int = 30,
) -> None:
    """Create every topic that does not exist yet (idempotent); compacted ones get cleanup.policy=compact.

    ``partitions``: each new topic's count, by default ``KAFKA_AUTO_CREATE_PARTITIONS`` of ``client``.
    """
    compacted = topics.compacted()
    wanted = [
        NewTopic(
            name=name,
            num_partitions=partitions or client.kafka_auto_create_partitions,
            replication_factor=replication_factor,
            topic_configs={"cleanup.policy": "compact"} if name in compacted else {},
        )
        for name in topics.all_topics()
    ]

    async def create(admin: AIOKafkaAdminClient) -> None:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            # another process may create them concurrently
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
            logger.info("created topics", extra={"count": len(missing)})

    await _with_admin(bootstrap_servers, client, attempts, create)


async def missing_topics(
    bootstrap_servers: str, topics: Topics, client: KafkaClientSettings, attempts: int = 30
) -> list[str]:
    """The names of ``topics`` the cluster does not have."""

    async def listed(admin: AIOKafkaAdminClient) -> list[str]:
        existing = set(await admin.list_topics())
        return [name for name in topics.all_topics() if name not in existing]

    return await _with_admin(bootstrap_servers, client, attempts, listed)


async def prepare_topics(
    bootstrap_servers: str, topics: Topics, client: KafkaClientSettings, attempts: int = 30
) -> None:
    """At start: create missing topics (KAFKA_AUTO_CREATE_TOPICS) or raise MissingTopicsError naming them."""
    if client.kafka_auto_create_topics:
        await ensure_topics(bootstrap_servers, topics, client, attempts=attempts)
        return
    missing = await missing_topics(bootstrap_servers, topics, client, attempts)
    if missing:
        raise MissingTopicsError(bootstrap_servers, missing)


async def assign_from_beginning(
    consumer: AIOKafkaConsumer, topic: str | Sequence[str], timeout_s: float = 5.0
) -> list[TopicPartition]:
    """Assign every partition of ``topic`` (or of each of several topics) to a started group-less
    consumer, at the earliest offsets.

    For followers, tools, benchmarks and tests that read whole topics; raises TimeoutError if a topic's
    partitions are not known within ``timeout_s`` (its metadata may lag its creation).
    """
    names = [topic] if isinstance(topic, str) else list(topic)
    tps: list[TopicPartition] = []
    async with asyncio.timeout(timeout_s):
        for name in names:
            partitions = consumer.partitions_for_topic(name) or set()
            while not partitions:
                await consumer.topics()
                partitions = consumer.partitions_for_topic(name) or set()
                if not partitions:
                    await asyncio.sleep(0.05)
            tps += [TopicPartition(name, p) for p in sorted(partitions)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    return tps
