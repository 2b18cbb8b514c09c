"""``python -m dlq_replayer`` as a process: serves once ready, stops cleanly on SIGTERM, bad settings exit 2."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from contracts.topics import Topics
from devstack.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def test_service_serves_and_stops_on_sigterm(
    dlq_env: dict[str, str], topics: Topics, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "dlq.log"
    env = {**os.environ, **dlq_env, "DLQ_REPLAYER_PORT": str(port), "LOG_LEVEL": "INFO"}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dlq_replayer"], env=env, stdout=out, stderr=out)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(400):
                assert proc.poll() is None, log.read_text()
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(log.read_text())
            headers = {"Authorization": f"Bearer {dlq_env['ADMIN_TOKEN']}"}
            async with http.get(f"http://127.0.0.1:{port}/dlq/stats", headers=headers) as r:
                assert r.status == 200 and (await r.json())["total"] == 0
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 15) == 0, log.read_text()
        assert "dlq replayer stopped" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_bad_settings_exit_2_naming_each() -> None:
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": "mysql://nope",
        "WEBHOOK_SECRETS_KEY": "c2hvcnQ=",
        "DLQ_REPLAYER_PORT": "99999",
    }
    done = subprocess.run(
        [sys.executable, "-m", "dlq_replayer"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    for name in ("DATABASE_URL", "WEBHOOK_SECRETS_KEY", "DLQ_REPLAYER_PORT"):
        assert f"invalid setting {name}" in done.stderr, done.stderr
