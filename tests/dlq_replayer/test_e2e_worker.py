"""Receiver down -> the real delivery worker dead-letters -> receiver up -> ``dlq`` replays each exactly once more."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from dlq_kafka import produce, publish_webhooks
from typer.testing import CliRunner, Result

from contracts.base import utcnow
from contracts.deliveries import DeliveryJobV1
from contracts.topics import Topics
from contracts.webhooks import RetryPolicy, WebhookConfigV1
from devstack.ports import free_port
from dlq_replayer.cli import app

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@dataclass
class FlakyReceiver:
    """Answers 503 while ``down``, 200 otherwise; records (status, webhook-id) of every request."""

    down: bool = True
    port: int = 0
    hits: list[tuple[int, str]] = field(default_factory=list)

    def ok_ids(self) -> Counter[str]:
        return Counter(wid for status, wid in self.hits if status == 200)


@asynccontextmanager
async def flaky_receiver() -> AsyncIterator[FlakyReceiver]:
    rec = FlakyReceiver()

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        status = 503 if rec.down else 200
        rec.hits.append((status, request.headers.get("webhook-id", "")))
        return web.Response(status=status)

    server = web.Application()
    server.router.add_post("/hook", handle)
    runner = web.AppRunner(server, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield rec
    finally:
        await runner.cleanup()


def spawn_worker(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    full = {
        **os.environ,
        **env,
        "DELIVERY_WORKER_PORT": str(port),
        "DELIVERY_WORKER_POLL_TIMEOUT_MS": "20",
        "DELIVERY_WORKER_SESSION_TIMEOUT_MS": "3000",
        "DELIVERY_WORKER_GROUP_ID": f"{env['TOPIC_PREFIX']}delivery-worker",
        "DELIVERY_WORKER_SHUTDOWN_GRACE_S": "2",
        "LOG_LEVEL": "INFO",
        # The circuit would otherwise open after 5 failures and space the second attempts by its cooldown.
        "DELIVERY_WORKER_CIRCUIT_FAILURE_THRESHOLD": "1000",
    }
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "delivery_worker"], env=full, stdout=out, stderr=out)
    return proc, port


async def wait_until(check: object, timeout_s: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if await check() if asyncio.iscoroutinefunction(check) else check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def dlq(env: dict[str, str], *args: str) -> Result:
    runner = CliRunner()
    return await asyncio.to_thread(
        runner.invoke, app, ["--direct", *args], env={"COLUMNS": "250", **env}, catch_exceptions=False
    )


async def test_receiver_down_dead_lettered_then_replayed_exactly_once(
    kafka_bootstrap: str, topics: Topics, dlq_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    async with flaky_receiver() as rec:
        hook = WebhookConfigV1(
            id=f"wh_{uuid.uuid4().hex[:8]}",
            integration_id="sm-1",
            integration_type="surveymonkey",
            name="down for an hour",
            subscription_url=f"http://127.0.0.1:{rec.port}/hook",
            event_types=["*"],
            retry_policy=RetryPolicy(max_attempts=2, initial_delay_ms=100, multiplier=2.0, jitter=0.0),
            timeout_ms=2000,
            updated_at=utcnow(),
        )
        await publish_webhooks(kafka_bootstrap, topics, [hook])
        now = utcnow()
        jobs = [
            DeliveryJobV1(
                delivery_id=f"dlv_{uuid.uuid4().hex[:12]}",
                webhook_id=hook.id,
                integration_id=hook.integration_id,
                event_id=f"evt_{i}",
                event_type="response_completed",
                event_time=now - timedelta(seconds=1),
                dispatched_at=now,
                body=json.dumps({"n": i}),
            )
            for i in range(5)
        ]
        await produce(
            kafka_bootstrap, topics.deliveries, [(hook.id.encode(), j.to_bytes(), None) for j in jobs]
        )
        wanted = {j.delivery_id for j in jobs}

        worker, port = spawn_worker(dlq_env, log)
        try:

            async def dead_lettered() -> bool:
                listed = await dlq(dlq_env, "list", "--webhook", hook.id, "--json")
                assert listed.exit_code == 0, listed.output
                return json.loads(listed.stdout)["count"] >= len(wanted)

            await wait_until(dead_lettered, 60, "every job dead-lettered")
            assert {wid for status, wid in rec.hits if status == 503} == wanted
            assert not rec.ok_ids()

            listed = json.loads((await dlq(dlq_env, "list", "--json")).stdout)
            assert {m["delivery_id"] for m in listed["messages"]} == wanted
            assert all(m["attempts"] == 2 and m["last_status_code"] == 503 for m in listed["messages"])

            rec.down = False
            dry = json.loads((await dlq(dlq_env, "replay", "--dry-run", "--json")).stdout)
            assert dry["plan"]["to_replay"] == 5 and dry["plan"]["by_webhook"] == {hook.id: 5}
            replay = await dlq(dlq_env, "replay", "--yes", "--rate", "20")
            assert replay.exit_code == 0, replay.output

            await wait_until(lambda: set(rec.ok_ids()) == wanted, 30, "every replayed job delivered")
            await asyncio.sleep(1.5)  # room for a duplicate to show up
            assert rec.ok_ids() == Counter(
                dict.fromkeys(wanted, 1)
            )  # each exactly once more, same webhook-id

            second = await dlq(dlq_env, "replay", "--yes")
            assert second.exit_code == 0 and "nothing to replay" in second.stdout
            await asyncio.sleep(0.5)
            assert rec.ok_ids() == Counter(dict.fromkeys(wanted, 1))
            async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/readyz") as r:
                assert r.status == 200
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(worker.wait, 15)
            except subprocess.TimeoutExpired:
                worker.kill()
