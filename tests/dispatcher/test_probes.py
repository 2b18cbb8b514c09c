"""/healthz of the dispatcher turns 503 when its consume loop or a config-view follower dies."""

from __future__ import annotations

import asyncio
import json
from typing import Any

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
        # fetch-pacing: the tests run with the embedded broker's settings (KAFKA_IDLE_FETCH_MAX_WAIT_MS)
        # one follower for the config view and the patient index (one consumer, one loop)
        assert set(loops) == {
            "config-follower",
            "intake",
            "intake-commits",
            "fetch-pacing",
        }

        async def broken(*_: Any, **__: Any) -> Any:
            raise RuntimeError("broken fetch")

        # A loop that raises (not only one that is cancelled) is reported with its error.
        app.config._consumer.getmany = broken
        for _ in range(100):
            status, body = await http_get(url)
            if status == 503:
                break
            await asyncio.sleep(0.05)
        assert json.loads(body)["dead_loops"] == [
            {"name": "config-follower", "reason": "RuntimeError: broken fetch"}
        ]
        loops["intake"].cancel()
        await asyncio.gather(loops["intake"], return_exceptions=True)
        status, body = await http_get(url)
        assert status == 503
        assert [d["name"] for d in json.loads(body)["dead_loops"]] == ["config-follower", "intake"]
        assert not app.ready
    # and the orderly stop above went through although a loop had died with an error
