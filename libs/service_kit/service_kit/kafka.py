"""Kafka client settings and topic administration shared by the services.

Producers run with ``enable_idempotence=False``: the embedded Tansu broker does not implement
InitProducerId. Delivery is therefore at-least-once with stable message ids for de-duplication.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import lru_cache
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner, murmur2

from contracts.topics import Topics

logger = logging.getLogger(__name__)


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


def producer_options(bootstrap_servers: str) -> dict[str, Any]:
    """Options for every AIOKafkaProducer (acks=all, no idempotence, small linger)."""
    return {
        "bootstrap_servers": bootstrap_servers,
        "partitioner": key_partitioner,
        "acks": "all",
        "enable_idempotence": False,
        "linger_ms": 2,
        "request_timeout_ms": 15000,
        "max_request_size": 4 * 1024 * 1024,
    }


def consumer_options(bootstrap_servers: str, fetch_max_wait_ms: int = 10) -> dict[str, Any]:
    """Options for every AIOKafkaConsumer (manual commits, low fetch wait)."""
    return {
        "bootstrap_servers": bootstrap_servers,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "fetch_max_wait_ms": fetch_max_wait_ms,
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
    }


async def ensure_topics(
    bootstrap_servers: str,
    topics: Topics,
    partitions: int = 6,
    replication_factor: int = 1,
    attempts: int = 30,
) -> None:
    """Create every topic that does not exist yet (idempotent); compacted ones get cleanup.policy=compact."""
    compacted = topics.compacted()
    wanted = [
        NewTopic(
            name=name,
            num_partitions=partitions,
            replication_factor=replication_factor,
            topic_configs={"cleanup.policy": "compact"} if name in compacted else {},
        )
        for name in topics.all_topics()
    ]
    for attempt in range(1, attempts + 1):
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for t in wanted if t.name not in existing]
            if missing:
                # another process may create them concurrently
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(missing)
                logger.info("created topics", extra={"count": len(missing)})
            return
        except KafkaError as exc:
            if attempt == attempts:
                raise
            logger.warning(
                "kafka not ready for topic creation, retrying", extra={"error": type(exc).__name__}
            )
            await asyncio.sleep(min(2.0, 0.2 * attempt))
        finally:
            await admin.close()


async def assign_from_beginning(
    consumer: AIOKafkaConsumer, topic: str, timeout_s: float = 5.0
) -> list[TopicPartition]:
    """Assign every partition of ``topic`` to a started group-less consumer, at the earliest offsets.

    For tools, benchmarks and tests that read a whole topic; raises TimeoutError if the topic's
    partitions are not known within ``timeout_s`` (its metadata may lag its creation).
    """
    async with asyncio.timeout(timeout_s):
        partitions = consumer.partitions_for_topic(topic) or set()
        while not partitions:
            await consumer.topics()
            partitions = consumer.partitions_for_topic(topic) or set()
            if not partitions:
                await asyncio.sleep(0.05)
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    return tps
