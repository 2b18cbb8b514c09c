"""/healthz of the worker turns 503 when one of its loops dies (consumers, outbox flusher, config view)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from delivery_worker.app import WorkerApp

pytestmark = pytest.mark.integration


async def test_each_dead_loop_shows_on_healthz(start_worker: Callable[..., Awaitable[WorkerApp]]) -> None:
    app = await start_worker(port=0)
    url = f"http://127.0.0.1:{app.ops_port}/healthz"
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            assert resp.status == 200, await resp.text()
        loops = app.supervisor.tasks
        assert set(loops) == {
            "config-follower",
            "outbox-flusher",
            "delivery-loop",
            "retry-loop",
            "fetch-pacing",
        }
        killed: list[str] = []
        for name, task in loops.items():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            killed.append(name)
            async with http.get(url) as resp:
                assert resp.status == 503
                assert [d["name"] for d in (await resp.json())["dead_loops"]] == killed
    assert not app.ready
