"""``python -m delivery_worker`` as a process: kill -9 mid-batch loses no job; SIGTERM shuts down cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from dw_helpers import Bus, make_config, make_job, receiver, wait_for

from devstack.ports import free_port
from webhook_core.secrets_crypto import SecretBox

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def spawn(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    full = {
        **os.environ,
        **env,
        "DELIVERY_WORKER_PORT": str(port),
        "DELIVERY_WORKER_POLL_TIMEOUT_MS": "20",
        "DELIVERY_WORKER_SESSION_TIMEOUT_MS": "3000",
        "DELIVERY_WORKER_GROUP_ID": f"{env['TOPIC_PREFIX']}delivery-worker",
        "DELIVERY_WORKER_SHUTDOWN_GRACE_S": "5",
    }
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "delivery_worker"], env=full, stdout=out, stderr=out)
    return proc, port


async def wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if proc.poll() is not None:
                raise AssertionError(f"worker exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"worker not ready:\n{log.read_text()[-3000:]}")


async def test_kill_9_mid_batch_loses_nothing_and_sigterm_is_graceful(
    bus: Bus, box: SecretBox, service_env: dict[str, str], tmp_path: Path
) -> None:
    async def slowish(_: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.05)
        return web.Response(text="ok")

    log = tmp_path / "worker.log"
    async with receiver({"/k": slowish}) as rec:
        cfgs = [make_config(box, rec.url("/k"), max_in_flight=2) for _ in range(4)]
        for cfg in cfgs:
            await bus.config(cfg)
        jobs = [make_job(cfgs[i % 4], i) for i in range(300)]
        for job in jobs:
            await bus.job(job)
        wanted = {j.delivery_id for j in jobs}

        first, port = spawn(service_env, log)
        try:
            await wait_ready(first, port, log)
            await wait_for(
                lambda: len(rec.hits) >= 150, timeout_s=30, what="the first worker to be mid-batch"
            )
        finally:
            first.send_signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait, 10)
        delivered_before = {h.headers["webhook-id"] for h in rec.hits}
        assert 0 < len(delivered_before) < len(wanted)

        second, port = spawn(service_env, log)
        try:
            await wait_ready(second, port, log)
            await wait_for(
                lambda: {h.headers["webhook-id"] for h in rec.hits} >= wanted,
                timeout_s=45,
                what="every job delivered after the restart",
            )
            second.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(second.wait, 20) == 0, log.read_text()[-3000:]
        finally:
            if second.poll() is None:
                second.kill()
        duplicates = len(rec.hits) - len(wanted)
        print(f"kill -9: {len(delivered_before)} delivered before the kill, {duplicates} sent twice")
        text = log.read_text()
        assert "delivery worker stopped" in text
        assert '"level": "error"' not in text
        assert duplicates < len(delivered_before)  # offsets were committed while the first worker ran
