"""Storage of delivery results: PostgreSQL outages during ingestion, retention purge."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import cast
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from delivery_helpers import make_result, publish, wait_until
from recorded_consumers import cancel_while_starting, record_consumers, stopped

from config_api.db import create_pool
from config_api.deliveries import ingest
from config_api.deliveries.health import Thresholds
from config_api.deliveries.ingest import ResultsIngestor, group_id_for
from config_api.deliveries.retention import purge_expired
from config_api.deliveries.store import store_results
from contracts.base import utcnow
from contracts.topics import Topics
from service_kit.kafka import consumer_options
from service_kit.kafka_security import embedded_broker_client

pytestmark = pytest.mark.integration

LIMITS = Thresholds(max_consecutive_failures=10, max_failing_s=5 * 86400)
WEBHOOK = {"id": "wh_store", "integration_id": "surveymonkey"}


async def committed_total(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(
        group_id=group_id_for(topic), **consumer_options(bootstrap, embedded_broker_client(), 10)
    )
    await consumer.start()
    try:
        total = 0
        for partition in (0, 1):
            total += await consumer.committed(TopicPartition(topic, partition)) or 0
        return total
    finally:
        await consumer.stop()


async def test_ingest_waits_out_a_postgres_outage(
    database_url: str, postgres_dsn: str, kafka_bootstrap: str, topics: Topics
) -> None:
    pool = await create_pool(database_url, 10.0, max_size=2)
    ingestor = ResultsIngestor(
        pool,
        kafka_bootstrap,
        embedded_broker_client(),
        topics.delivery_results,
        LIMITS,
        fetch_max_wait_ms=10,
        retry_delay_s=0.05,
        max_retry_delay_s=0.3,
    )
    task = asyncio.create_task(ingestor.run())
    database = urlsplit(database_url).path.lstrip("/")
    admin = await asyncpg.connect(postgres_dsn)
    try:
        first = [make_result(WEBHOOK, f"a{i}") for i in range(3)]
        await publish(kafka_bootstrap, topics.delivery_results, first)
        await wait_until(lambda: ingestor.stored == 3, what="first batch stored")
        await wait_until(
            lambda: committed_total(kafka_bootstrap, topics.delivery_results), what="first commit"
        )

        # PostgreSQL goes away for this database: new connections refused, open ones killed.
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database
        )
        second = [make_result(WEBHOOK, f"b{i}", "dead_lettered", status_code=500) for i in range(5)]
        await publish(kafka_bootstrap, topics.delivery_results, second)
        await wait_until(lambda: ingestor.db_failures >= 3, what="storage failures")
        assert ingestor.stored == 3 and not task.done()
        assert (
            await committed_total(kafka_bootstrap, topics.delivery_results) == 3
        )  # nothing committed meanwhile

        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        await wait_until(lambda: ingestor.stored == 8, what="batch stored after the outage")
        await wait_until(
            lambda: _equals(committed_total(kafka_bootstrap, topics.delivery_results), 8),
            what="offsets committed",
        )
        rows = await pool.fetchval("SELECT count(*) FROM delivery_attempts")
        health = await pool.fetchrow("SELECT consecutive_failures FROM webhook_delivery_health")
        assert rows == 8 and health is not None and health["consecutive_failures"] == 5
    finally:
        with contextlib.suppress(asyncpg.PostgresError):
            await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        await admin.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await pool.close()


async def _equals(value: object, expected: int) -> bool:
    return await value == expected  # type: ignore[misc]


async def test_retention_purges_old_attempts_payloads_and_buckets(database_url: str) -> None:
    pool = await create_pool(database_url, 10.0, max_size=2)
    try:
        now = utcnow()
        old = now - timedelta(days=31)
        recent = now - timedelta(days=29)
        results = [
            make_result(WEBHOOK, f"old{i}", attempted_at=old, payload_encrypted="v1.x") for i in range(3)
        ] + [make_result(WEBHOOK, f"new{i}", attempted_at=recent, payload_encrypted="v1.y") for i in range(2)]
        results.append(make_result(WEBHOOK, "latest", attempted_at=now - timedelta(minutes=1)))
        async with pool.acquire() as conn:
            assert len(await store_results(conn, results, LIMITS)) == 6
        report = await purge_expired(pool, retention_days=30, now=now)
        assert (report.attempts, report.payloads) == (3, 3)
        left = {r["delivery_id"] for r in await pool.fetch("SELECT delivery_id FROM delivery_attempts")}
        assert left == {"new0", "new1", "latest"}
        assert await pool.fetchval("SELECT count(*) FROM delivery_payloads") == 2
        # Minute buckets beyond a day go; hour buckets are kept for the retention period.
        buckets = await pool.fetch(
            "SELECT bucket_s, bucket_start FROM delivery_stats ORDER BY bucket_s, bucket_start"
        )
        assert [b["bucket_s"] for b in buckets] == [60, 3600, 3600]
        assert all(b["bucket_start"] > now - timedelta(days=30) for b in buckets)
        assert await purge_expired(pool, retention_days=30, now=now) == type(report)(0, 0, 0, 0)
    finally:
        await pool.close()


async def test_an_ingestor_cancelled_while_its_consumer_starts_leaves_none_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = record_consumers(monkeypatch, ingest)
    ingestor = ResultsIngestor(
        cast(asyncpg.Pool, None),  # never reached: the consumer does not start
        "127.0.0.1:1",
        embedded_broker_client(),
        "results",
        LIMITS,
    )
    await cancel_while_starting(monkeypatch, ingestor.run())  # the config API shutting down
    assert len(made) == 1 and stopped(made[0])
