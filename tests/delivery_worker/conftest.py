"""Fixtures of the delivery worker tests: the test's bus and a factory of started in-process workers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from dw_helpers import Bus

from contracts.topics import Topics
from delivery_worker.app import WorkerApp, create_app
from delivery_worker.settings import WorkerSettings
from service_kit.settings import decode_secrets_key
from webhook_core.secrets_crypto import SecretBox
from webhook_core.ssrf import Resolver

FAST = {
    "port": 0,
    "poll_timeout_ms": 20,
    "commit_interval_ms": 50,
    "circuit_cooldown_ms": 300,
    "retry_floor_ms": 200,
    "session_timeout_ms": 3000,
    "shutdown_grace_s": 2.0,
    "dns_cache_ttl_ms": 0,  # the SSRF test changes what a name resolves to between jobs
}


@pytest.fixture
def box(secrets_key: str) -> SecretBox:
    return SecretBox(decode_secrets_key(secrets_key))


@pytest.fixture
async def bus(kafka_bootstrap: str, topics: Topics) -> AsyncIterator[Bus]:
    b = Bus(kafka_bootstrap, topics)
    await b.start()
    yield b
    await b.stop()


StartWorker = Callable[..., Awaitable[WorkerApp]]


@pytest.fixture
async def start_worker(
    service_env: dict[str, str], topics: Topics, topic_prefix: str
) -> AsyncIterator[StartWorker]:
    """Start a worker with fast test timings; ``overrides`` are WorkerSettings fields."""
    async with AsyncExitStack() as stack:

        async def start(resolver: Resolver | None = None, **overrides: Any) -> WorkerApp:
            env = {k.lower(): v for k, v in service_env.items()}
            # Own consumer group per test: a group shared with an earlier test's (departed) worker makes
            # the broker wait for that member's session to expire before assigning partitions.
            group = {"group_id": f"{topic_prefix}delivery-worker"}
            settings = WorkerSettings(**{**env, **FAST, **group, **overrides})
            app = create_app(settings, resolver=resolver)
            await app.start()
            stack.push_async_callback(app.stop)
            return app

        yield start
