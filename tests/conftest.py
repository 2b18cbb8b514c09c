"""Session fixtures: the embedded broker and PostgreSQL (or the configured ones), per-test topics and databases.

Backends, in order:
- ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` set: use them.
- ``TEST_INFRA=containers`` and a Docker daemon: Kafka and PostgreSQL from testcontainers.
- otherwise: the embedded Tansu broker and embedded PostgreSQL 18 (what CI uses).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from contracts.topics import Topics
from service_kit.kafka import ensure_topics
from service_kit.kafka_security import embedded_broker_client
from webhook_core.secrets_crypto import generate_key

REPO = Path(__file__).resolve().parent.parent

# The CLIs' rich consoles are built at import and fix their width from COLUMNS when it is set (a pytest-xdist
# worker inherits COLUMNS=80): unset, they read the COLUMNS each CLI test passes when it runs.
os.environ.pop("COLUMNS", None)


def _containers_wanted() -> bool:
    return os.environ.get("TEST_INFRA") == "containers"


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a Kafka-protocol broker for the whole session."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    if _containers_wanted():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            yield kafka.get_bootstrap_server()
        return
    from devstack.broker import EMBEDDED_BROKER_ENV, start_broker
    from devstack.ports import free_port

    # Settings built directly in tests (WorkerSettings(...)) read the process environment: give
    # them what the embedded broker needs (no idempotence, short fetch wait, topics auto-created).
    for name, value in EMBEDDED_BROKER_ENV.items():
        os.environ.setdefault(name, value)

    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    broker = start_broker(port=free_port(), log_path=log)
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def postgres_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DSN of a PostgreSQL server for the whole session (each test gets its own database)."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    if _containers_wanted():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16") as pg:
            yield pg.get_connection_url(driver=None)
        return
    from devstack.postgres import start_postgres

    server = start_postgres(tmp_path_factory.mktemp("pg") / "data")
    try:
        yield server.dsn
    finally:
        server.cleanup()


def dsn_with_database(dsn: str, database: str) -> str:
    """The same server DSN pointing at another database."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


@pytest.fixture
async def database_url(postgres_dsn: str) -> AsyncIterator[str]:
    """A fresh, empty database for one test; dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:16]
    admin = await asyncpg.connect(postgres_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield dsn_with_database(postgres_dsn, name)
    await _drop_database(postgres_dsn, name)


async def _drop_database(postgres_dsn: str, name: str) -> None:
    # Best-effort: a test that stopped and restarted PostgreSQL (fault tests) can leave the
    # first attempt facing a closed connection; the database is disposable either way.
    for attempt in range(3):
        try:
            admin = await asyncpg.connect(postgres_dsn)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()
            return
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await asyncio.sleep(0.5 * (attempt + 1))


@pytest.fixture
def topic_prefix() -> str:
    """A prefix unique to this test, so every test has its own topics."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
async def topics(kafka_bootstrap: str, topic_prefix: str) -> Topics:
    """This test's topics, created (2 partitions each, compacted where the design says so)."""
    names = Topics().with_prefix(topic_prefix)
    await ensure_topics(kafka_bootstrap, names, embedded_broker_client(), partitions=2)
    return names


@pytest.fixture(scope="session")
def secrets_key() -> str:
    """A WEBHOOK_SECRETS_KEY for the session."""
    return generate_key()


@pytest.fixture
def service_env(kafka_bootstrap: str, topic_prefix: str, secrets_key: str) -> dict[str, str]:
    """Environment shared by the services under test (dev profile: http to loopback allowed).

    With the embedded broker it includes what that broker needs (devstack.broker.EMBEDDED_BROKER_ENV).
    """
    from devstack.broker import EMBEDDED_BROKER_ENV

    embedded = (
        {} if _containers_wanted() or os.environ.get("KAFKA_BOOTSTRAP_SERVERS") else EMBEDDED_BROKER_ENV
    )
    return {
        **embedded,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "TOPIC_PREFIX": topic_prefix,
        "WEBHOOK_SECRETS_KEY": secrets_key,
        "WEBHOOK_ALLOW_HTTP": "true",
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "LOG_JSON": "true",
    }


@pytest.fixture
def span_exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Tracing on for this test only: an SDK provider exporting into memory, installed as the global one."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    yield exporter
    provider.shutdown()
