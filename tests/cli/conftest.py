"""Fixtures of the CLI tests: a config API listening on loopback (uvicorn, real PostgreSQL and broker)."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from cli_harness import LiveApi

from config_api.app import create_app
from contracts.topics import Topics

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "config_api"))  # capi_harness
from capi_harness import make_settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
async def live_api(database_url: str, service_env: dict[str, str], topics: Topics) -> AsyncIterator[LiveApi]:
    """The config API served by uvicorn on 127.0.0.1 (what `make run` starts), until the test ends."""
    del topics  # the topics exist before the relay starts
    settings = make_settings(database_url, service_env)

    async def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34"] if host == "hooks.example.com" else ["127.0.0.1"]

    app = create_app(settings, resolver=resolver)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield LiveApi(url=f"http://127.0.0.1:{port}", app=app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
