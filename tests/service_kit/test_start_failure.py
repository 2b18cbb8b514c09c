"""Every service reports a failed start the same way: exit 1 and one line ``<service>: cannot start: ...``."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys

import pytest

from contracts.topics import Topics

pytestmark = pytest.mark.integration

SERVICES = [
    ("config_api", "config-api", "CONFIG_API_PORT"),
    ("dispatcher", "dispatcher", "DISPATCHER_PORT"),
    ("delivery_worker", "delivery-worker", "DELIVERY_WORKER_PORT"),
    ("dlq_replayer", "dlq-replayer", "DLQ_REPLAYER_PORT"),
]


async def _failed_start(module: str, env: dict[str, str]) -> str:
    """Run ``python -m module``; assert it exits 1 with exactly one line on stderr, and return it."""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", module],
        env={**os.environ, **env, "LOG_LEVEL": "CRITICAL"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize(("module", "name", "port_setting"), SERVICES)
async def test_port_taken_is_one_line_and_exit_1(
    module: str, name: str, port_setting: str, service_env: dict[str, str], database_url: str, topics: Topics
) -> None:
    del topics
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **service_env,
            "DATABASE_URL": database_url,
            port_setting: str(port),
            # Short start-up waits: the failure must come from the port, not from a timeout.
            "DISPATCHER_READY_TIMEOUT_S": "30",
            "DELIVERY_WORKER_READY_TIMEOUT_S": "30",
        }
        line = await _failed_start(module, env)
    assert line.startswith(f"{name}: cannot start: "), line
    assert f"cannot listen on 127.0.0.1:{port}" in line, line


async def test_config_api_without_postgresql_is_one_line_and_exit_1(service_env: dict[str, str]) -> None:
    env = {
        **service_env,
        "DATABASE_URL": "postgresql://u@127.0.0.1:1/db",
        "CONFIG_API_PORT": "0",
        "CONFIG_API_DB_CONNECT_TIMEOUT_S": "0.5",
    }
    line = await _failed_start("config_api", env)
    assert line.startswith("config-api: cannot start: ConnectionError: PostgreSQL unreachable"), line
