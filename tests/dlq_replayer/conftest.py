"""Fixtures of the DLQ replayer tests: environment, settings and a runtime on the real stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from contracts.topics import Topics
from dlq_replayer.app import DlqReplayerApp, create_app
from dlq_replayer.runtime import Runtime, open_core
from dlq_replayer.settings import DlqReplayerSettings

ADMIN_TOKEN = "boot-admin-token-0123456789abcdefghij"


@pytest.fixture
def dlq_env(service_env: dict[str, str], database_url: str) -> dict[str, str]:
    """Environment of the replayer (service or CLI) for this test's topics and database."""
    return {**service_env, "DATABASE_URL": database_url, "ADMIN_TOKEN": ADMIN_TOKEN, "LOG_LEVEL": "WARNING"}


@pytest.fixture
def dlq_settings(dlq_env: dict[str, str], topics: Topics) -> DlqReplayerSettings:
    """Settings from that environment (the topics fixture has created the topics)."""
    return DlqReplayerSettings(
        kafka_bootstrap_servers=dlq_env["KAFKA_BOOTSTRAP_SERVERS"],
        webhook_secrets_key=dlq_env["WEBHOOK_SECRETS_KEY"],
        topic_prefix=dlq_env["TOPIC_PREFIX"],
        database_url=dlq_env["DATABASE_URL"],
        admin_token=ADMIN_TOKEN,
        scan_timeout_s=30,
        ready_timeout_s=20,
        port=0,
    )


@pytest.fixture
async def runtime(dlq_settings: DlqReplayerSettings) -> AsyncIterator[Runtime]:
    """The core as the CLI builds it (webhook snapshot, lazy producer)."""
    async with open_core(dlq_settings, follow=False) as rt:
        yield rt


@pytest.fixture
async def dlq_service(dlq_settings: DlqReplayerSettings) -> AsyncIterator[DlqReplayerApp]:
    """The service started as ``python -m dlq_replayer`` starts it (core, ops server on a free port)."""
    service = create_app(dlq_settings)
    await service.start()
    try:
        yield service
    finally:
        service.supervisor.stopping()
        await service.stop()


@pytest.fixture
async def client(dlq_service: DlqReplayerApp) -> AsyncIterator[aiohttp.ClientSession]:
    """A client of that service, once it is ready."""
    base = f"http://127.0.0.1:{dlq_service.ops.bound_port}"
    async with aiohttp.ClientSession(base_url=base) as c:
        for _ in range(200):
            async with c.get("/readyz") as resp:
                if resp.status == 200:
                    break
            await asyncio.sleep(0.05)
        yield c
