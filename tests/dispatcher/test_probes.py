"""/healthz of the dispatcher turns 503 when its consume loop or a config-view follower dies."""

from __future__ import annotations

import asyncio

import pytest
from dispatcher_kafka import http_get, running, settings_for

from contracts.topics import Topics

pytestmark = pytest.mark.integration


async def test_each_dead_loop_shows_on_healthz(
    kafka_bootstrap: str, topics: Topics, topic_prefix: str, secrets_key: str
) -> None:
    del topics
    async with running(settings_for(kafka_bootstrap, topic_prefix, secrets_key)) as app:
        url = f"http://127.0.0.1:{app.ops.bound_port}/healthz"
        status, body = await http_get(url)
        assert status == 200, body
        loops = app.supervisor.tasks
        assert set(loops) == {"config-follower", "patient-index-follower", "consume"}
        for n, task in enumerate(loops.values(), 1):
            task.cancel()
            await asyncio.sleep(0.05)
            status, body = await http_get(url)
            assert status == 503 and body.count('"name"') == n, body
        assert not app.ready
