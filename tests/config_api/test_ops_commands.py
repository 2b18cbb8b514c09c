"""Operations of the config API: key rotation, `migrate` as a step, probes that see dead loops."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiokafka import AIOKafkaProducer
from capi_harness import make_settings, start_harness
from test_core_outbox import wait_for

from config_api.commands import run_rotate
from config_api.deliveries.excerpts import open_excerpt, seal_excerpt
from contracts.base import utcnow
from contracts.deliveries import DeliveryJobV1
from contracts.topics import Topics
from contracts.webhooks import WebhookConfigV1
from delivery_worker.app import create_app as create_worker
from delivery_worker.settings import WorkerSettings
from service_kit.kafka import producer_options
from service_kit.kafka_security import embedded_broker_client
from webhook_core.secrets_crypto import DecryptionError, SecretBox, key_id
from webhook_core.signing import sign
from webhook_core.webhook_secrets import active_signing_secrets, auth_context, decrypt_auth, secret_context

pytestmark = pytest.mark.integration

BASE = "/admin/integration/surveymonkey/webhooks"


def _text(key: bytes) -> str:
    return base64.b64encode(key).decode()


async def test_rotate_secrets_key_reencrypts_everything_and_republishes(
    database_url: str, service_env: dict[str, str], topics: Topics, kafka_bootstrap: str
) -> None:
    key_a, key_b = os.urandom(32), os.urandom(32)
    under_a = make_settings(database_url, service_env, webhook_secrets_key=_text(key_a))
    hits: list[tuple[dict[str, str], bytes]] = []
    receiver = await _receiver(hits)
    port = receiver.addresses[0][1]
    async with start_harness(under_a) as api:
        created = await api.create_webhook(
            subscription_url=f"http://127.0.0.1:{port}/hook",
            auth={"type": "bearer", "token": "tok-rotate-me"},
        )
        wid = created["id"]
        rotated = await api.client.post(f"{BASE}/{wid}/secret/rotate", json={"grace_period_s": 600})
        secrets_in_use = [rotated.json()["secret"], created["signing_secret"]]
        payload = SecretBox(key_a).encrypt('{"answer": 42}', "delivery:dl-rot")
        await api.app.state.pool.execute(
            """INSERT INTO delivery_payloads (delivery_id, webhook_id, integration_id, event_id, event_type,
                   payload_encrypted, first_attempt_at, last_attempt_at)
               VALUES ('dl-rot', $1, 'surveymonkey', 'ev', 'response_completed', $2, now(), now())""",
            wid,
            payload,
        )
        excerpt = seal_excerpt(SecretBox(key_a), "dl-rot", "receiver said: ok")
        await api.app.state.pool.execute(
            """INSERT INTO delivery_attempts (webhook_id, integration_id, delivery_id, event_id, event_type,
                   attempt, outcome, response_body_excerpt, attempted_at)
               VALUES ($1, 'surveymonkey', 'dl-rot', 'ev', 'response_completed', 1, 'failed', $2, now())""",
            wid,
            excerpt,
        )

    both = make_settings(
        database_url,
        service_env,
        webhook_secrets_keys=f"{_text(key_b)},{_text(key_a)}",
        webhook_secrets_key=None,
    )
    text = await run_rotate(both)
    assert (
        f"key {key_id(key_b)}" in text
        and "1 auth credential(s), 2 signing secret(s), 1 delivery payload(s), 1 response excerpt(s)" in text
    )
    again = await run_rotate(both)
    assert "0 auth credential(s), 0 signing secret(s), 0 delivery payload(s), 0 response excerpt(s)" in again

    only_b, only_a = SecretBox([key_b]), SecretBox([key_a])
    conn = await asyncpg.connect(database_url)
    try:
        auth = await conn.fetchval("SELECT auth_encrypted FROM webhooks WHERE id = $1", wid)
        secrets = [r["encrypted"] for r in await conn.fetch("SELECT encrypted FROM webhook_signing_secrets")]
        stored = await conn.fetchval("SELECT payload_encrypted FROM delivery_payloads")
        stored_excerpt = await conn.fetchval("SELECT response_body_excerpt FROM delivery_attempts")
    finally:
        await conn.close()
    assert only_b.decrypt(auth, auth_context(wid)) and all(
        only_b.decrypt(s, secret_context(wid)) for s in secrets
    )
    assert only_b.decrypt(stored, "delivery:dl-rot") == '{"answer": 42}'
    assert open_excerpt(only_b, "dl-rot", stored_excerpt) == "receiver said: ok"
    with pytest.raises(DecryptionError):
        only_a.decrypt(auth, auth_context(wid))

    # A config API with only the new key publishes the queued snapshot; a worker with [B] reads it.
    new_only = make_settings(
        database_url, service_env, webhook_secrets_keys=_text(key_b), webhook_secrets_key=None
    )
    async with start_harness(new_only) as api:
        listed = await api.client.get(f"{BASE}/{wid}")
        assert listed.status_code == 200
        records = await wait_for(
            kafka_bootstrap,
            topics.webhooks_config,
            lambda r: any(
                k == wid and v and WebhookConfigV1.model_validate_json(v).auth_encrypted == auth for k, v in r
            ),
        )
    last = WebhookConfigV1.model_validate_json(next(v for k, v in reversed(records) if k == wid and v))
    assert decrypt_auth(only_b, wid, last.auth_encrypted).model_dump() == {
        "type": "bearer",
        "token": "tok-rotate-me",
    }
    assert active_signing_secrets(only_b, last) == secrets_in_use

    # A delivery worker that knows only the new key reads that config, signs and authenticates.
    values: dict[str, Any] = {k.lower(): v for k, v in service_env.items() if k != "WEBHOOK_SECRETS_KEY"}
    values.update(
        webhook_secrets_keys=_text(key_b),
        port=0,
        group_id=f"{service_env['TOPIC_PREFIX']}rotation-worker",
        session_timeout_ms=3000,
        poll_timeout_ms=20,
    )
    worker = create_worker(WorkerSettings(**values))
    await worker.start()
    try:
        job = _job(last)
        await _send_job(kafka_bootstrap, topics.deliveries, job)
        for _ in range(300):
            if hits:
                break
            await asyncio.sleep(0.05)
    finally:
        await worker.stop()
        await receiver.cleanup()
    assert len(hits) == 1, hits
    headers, body = hits[0]
    assert headers["authorization"] == "Bearer tok-rotate-me"
    timestamp = int(headers["webhook-timestamp"])
    expected = [sign(secret, job.delivery_id, timestamp, body) for secret in secrets_in_use]
    assert headers["webhook-signature"].split(" ") == expected


async def _receiver(hits: list[tuple[dict[str, str], bytes]]) -> web.AppRunner:
    async def handle(request: web.Request) -> web.Response:
        hits.append(({k.lower(): v for k, v in request.headers.items()}, await request.read()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def _job(config: WebhookConfigV1) -> DeliveryJobV1:
    now = utcnow()
    return DeliveryJobV1(
        delivery_id=f"dlv_{uuid.uuid4().hex[:12]}",
        webhook_id=config.id,
        integration_id=config.integration_id,
        event_id=f"evt_{uuid.uuid4().hex[:8]}",
        event_type="response_completed",
        event_time=now,
        dispatched_at=now,
        published_at=now,
        body='{"rotated": true}',
    )


async def _send_job(bootstrap: str, topic: str, job: DeliveryJobV1) -> None:
    producer = AIOKafkaProducer(**producer_options(bootstrap, embedded_broker_client()))
    await producer.start()
    try:
        await producer.send_and_wait(topic, job.to_bytes(), key=job.webhook_id.encode())
    finally:
        await producer.stop()


def _command(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


async def test_migrate_commands_run_once_even_when_started_together(
    database_url: str, service_env: dict[str, str]
) -> None:
    env = {**os.environ, **service_env, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    runs = [_command(env, "config_api", "migrate") for _ in range(2)]
    runs += [_command(env, "dlq_replayer", "migrate") for _ in range(2)]
    outs = [await asyncio.to_thread(p.communicate, timeout=120) for p in runs]
    assert [p.returncode for p in runs] == [0, 0, 0, 0], outs
    config_outs = sorted(out for out, _ in outs[:2])
    assert "none (the schema is up to date)" in config_outs[1] and "001_core.sql" in config_outs[0], (
        config_outs
    )
    conn = await asyncpg.connect(database_url)
    try:
        names = [r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations ORDER BY name")]
        assert names == sorted(set(names)) and names[0] == "001_core.sql"
        assert await conn.fetchval("SELECT to_regclass('dlq_replays') IS NOT NULL")
    finally:
        await conn.close()


async def test_migrate_on_start_false_leaves_the_schema_alone(
    database_url: str, service_env: dict[str, str]
) -> None:
    settings = make_settings(database_url, service_env, migrate_on_start=False)
    async with start_harness(settings) as api:
        with pytest.raises(asyncpg.UndefinedTableError):  # no tables: nothing migrated them
            await api.client.get(BASE)
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT to_regclass('schema_migrations')") is None
    finally:
        await conn.close()


async def test_healthz_turns_503_when_a_critical_loop_dies(
    database_url: str, service_env: dict[str, str], topics: Topics
) -> None:
    del topics
    async with start_harness(make_settings(database_url, service_env)) as api:
        health = await api.client.get("/healthz")
        assert health.status_code == 200, health.text
        loops: dict[str, Any] = api.app.state.supervisor.tasks
        assert set(loops) == {
            "outbox-relay",
            "delivery-results-ingest",
            "delivery-maintenance",
            "delivery-recoveries",
        }
        killed = []
        for name, task in loops.items():
            task.cancel()  # ends at its next await (a query in flight is cancelled first)
            await asyncio.gather(task, return_exceptions=True)
            killed.append(name)
            resp = await api.client.get("/healthz")
            assert resp.status_code == 503, resp.text
            assert [d["name"] for d in resp.json()["dead_loops"]] == killed
