"""Bulk recovery on the real stack: a receiver that was down, the real delivery worker, recover.

The receiver answers 503 while "down"; the worker dead-letters each delivery (max_attempts=1); the
config API ingests the results. After the receiver is back, one recover re-sends each delivery once
(with its own new delivery id), and a second recover without force sends nothing. Resuming after a
restart is tested with two app instances on one database.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from capi_harness import ApiHarness, make_settings, start_harness
from delivery_helpers import make_result, read_topic, wait_until
from test_delivery_search import store

from config_api.deliveries.recovery import recovered_delivery_id
from contracts.base import utcnow
from contracts.deliveries import DeliveryJobV1
from contracts.topics import Headers, Topics
from delivery_worker.app import create_app as create_worker
from delivery_worker.settings import WorkerSettings
from service_kit.kafka import producer_options
from service_kit.kafka_security import embedded_broker_client
from webhook_core.payload_crypto import Payloads
from webhook_core.secrets_crypto import SecretBox

pytestmark = pytest.mark.integration


class FlakyReceiver:
    """503 while ``down``, then 200; records (status, webhook-id, body) of every request."""

    def __init__(self) -> None:
        self.down = True
        self.requests: list[tuple[int, str, str]] = []
        app = web.Application()
        app.add_routes([web.post("/hooks", self._hook)])
        self.runner = web.AppRunner(app, access_log=None)
        self.url = ""

    async def _hook(self, request: web.Request) -> web.Response:
        status = 503 if self.down else 200
        self.requests.append((status, request.headers["webhook-id"], (await request.read()).decode()))
        return web.Response(status=status)

    def ok(self) -> list[tuple[str, str]]:
        return [(wid, body) for status, wid, body in self.requests if status == 200]


@pytest.fixture
async def flaky() -> AsyncIterator[FlakyReceiver]:
    rec = FlakyReceiver()
    await rec.runner.setup()
    site = web.TCPSite(rec.runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hooks"  # type: ignore[union-attr]
    yield rec
    await rec.runner.cleanup()


def job(wh: dict[str, Any], n: int) -> DeliveryJobV1:
    now = utcnow()
    body = json.dumps({"type": "response_completed", "event_id": f"ev-{n}", "data": {"n": n}})
    return DeliveryJobV1(
        delivery_id=f"msg_orig{n:02d}",
        webhook_id=wh["id"],
        integration_id="surveymonkey",
        event_id=f"ev-{n}",
        event_type="response_completed",
        object_type="response",
        object_id=f"resp-{n}",
        event_time=now,
        dispatched_at=now,
        body=body,
    )


async def publish_jobs(bootstrap: str, topic: str, jobs: list[DeliveryJobV1]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**producer_options(bootstrap, embedded_broker_client()))
    await producer.start()
    try:
        for j in jobs:
            headers = [("message-type", b"delivery_job.v1"), (Headers.DELIVERY_ID, j.delivery_id.encode())]
            await producer.send(topic, j.to_bytes(), key=j.webhook_id.encode(), headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


async def progress(client: Any, url: str, state: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def reached() -> bool:
        nonlocal found
        found = (await client.get(url)).json()
        return bool(found["state"] == state)

    await wait_until(reached, timeout_s=60, what=f"recovery {state}")
    return found


async def test_receiver_down_then_recover_sends_each_once_and_again_only_with_force(
    api: ApiHarness, flaky: FlakyReceiver, service_env: dict[str, str]
) -> None:
    started = utcnow() - timedelta(minutes=1)
    wh = await api.create_webhook(
        name="ehr-sync", subscription_url=flaky.url, retry_policy={"max_attempts": 1}, timeout_ms=2000
    )
    env = {k.lower(): v for k, v in service_env.items()}
    worker = create_worker(
        WorkerSettings(**{**env, "port": 0, "group_id": f"dw-{env['topic_prefix']}", "poll_timeout_ms": 20})
    )
    await worker.start()
    operator = api.as_token(await api.make_token("operator"))
    search = "/admin/integration/surveymonkey/deliveries"
    try:
        originals = [job(wh, n) for n in range(5)]
        await publish_jobs(api.settings.kafka_bootstrap_servers, api.settings.topics.deliveries, originals)

        async def all_dead() -> bool:
            page = (
                await api.client.get(search, params={"webhook_id": wh["id"], "outcome": "dead_lettered"})
            ).json()
            return len(page["items"]) == 5

        await wait_until(all_dead, timeout_s=60, what="5 dead letters in the search")
        assert len(flaky.requests) == 5 and not flaky.ok()
        flaky.down = False

        base = f"/admin/integration/surveymonkey/webhooks/{wh['id']}"
        resp = await operator.post(f"{base}/recover", json={"since": started.isoformat(), "rate_per_s": 50})
        assert resp.status_code == 202, resp.text
        first = resp.json()
        assert (first["total"], first["already_recovered"]) == (5, 0)
        assert first["progress_url"] == f"{base}/recoveries/{first['id']}"
        done = await progress(operator, first["progress_url"], "done")
        assert (done["sent"], done["skipped"], done["pending"]) == (5, 0, 0)

        await wait_until(lambda: len(flaky.ok()) >= 5, timeout_s=60, what="recovered deliveries received")
        expected = {recovered_delivery_id(j.delivery_id, first["id"]): j.body for j in originals}
        assert dict(flaky.ok()) == expected and len(flaky.ok()) == 5  # each once, own id, same body

        async def recovered_logged() -> bool:
            page = (
                await api.client.get(search, params={"webhook_id": wh["id"], "outcome": "succeeded"})
            ).json()
            return len(page["items"]) == 5

        await wait_until(recovered_logged, timeout_s=60, what="recovered deliveries in the search")
        page = (await api.client.get(search, params={"webhook_id": wh["id"], "outcome": "succeeded"})).json()
        assert {(i["delivery_id"], i["recovered_from"], i["replay_id"]) for i in page["items"]} == {
            (recovered_delivery_id(j.delivery_id, first["id"]), j.delivery_id, first["id"]) for j in originals
        }
        assert {i["object_id"] for i in page["items"]} == {f"resp-{n}" for n in range(5)}

        again = await operator.post(f"{base}/recover", json={"since": started.isoformat()})
        assert again.status_code == 202, again.text
        assert (again.json()["total"], again.json()["already_recovered"], again.json()["state"]) == (
            0,
            5,
            "done",
        )
        await asyncio.sleep(1.0)
        assert len(flaky.ok()) == 5  # nothing more was sent

        forced = await operator.post(
            f"{base}/recover", json={"since": started.isoformat(), "force": True, "outcome": "dead_lettered"}
        )
        assert forced.json()["total"] == 5
        await progress(operator, forced.json()["progress_url"], "done")
        await wait_until(lambda: len(flaky.ok()) >= 10, timeout_s=60, what="forced re-sends received")
        assert len({wid for wid, _ in flaky.ok()}) == 10
    finally:
        await worker.stop()

    listed = (await operator.get(f"{base}/recoveries")).json()["items"]
    assert [r["id"] for r in listed][-1] == first["id"] and len(listed) == 3
    audited = await api.app.state.pool.fetch(
        "SELECT actor, details FROM audit_log WHERE action = 'delivery.recover'"
    )
    assert len(audited) == 3 and {r["actor"] for r in audited} == {"token:operator-token"}


async def test_recover_rules_and_errors(api: ApiHarness) -> None:
    wh = await api.create_webhook()
    base = f"/admin/integration/surveymonkey/webhooks/{wh['id']}"
    since = {"since": (utcnow() - timedelta(hours=1)).isoformat()}
    viewer = api.as_token(await api.make_token("viewer"))
    assert (await viewer.post(f"{base}/recover", json=since)).status_code == 403
    assert (await api.as_token(None).post(f"{base}/recover", json=since)).status_code == 401
    for body, loc in (
        ({}, "since"),
        ({**since, "until": "2000-01-01T00:00:00Z"}, "since"),
        ({**since, "outcome": "succeeded"}, "outcome"),
        ({**since, "rate_per_s": 0}, "rate_per_s"),
        ({**since, "extra": 1}, "extra"),
    ):
        resp = await api.client.post(f"{base}/recover", json=body)
        assert resp.status_code == 422 and loc in resp.text, (body, resp.text)
    assert (
        await api.client.post("/admin/integration/ehr/webhooks/" + wh["id"] + "/recover", json=since)
    ).status_code == 404
    assert (await api.client.get(f"{base}/recoveries/rc_unknown")).status_code == 404
    await api.client.patch(f"/admin/integration/surveymonkey/webhooks/{wh['id']}", json={"active": False})
    resp = await api.client.post(f"{base}/recover", json=since)
    assert resp.status_code == 409 and "inactive" in resp.text
    doc = (await api.client.get("/openapi.json")).json()["paths"]
    assert {"202", "401", "403", "404", "409", "422"} <= set(
        doc["/admin/integration/{integration_id}/webhooks/{webhook_id}/recover"]["post"]["responses"]
    )
    assert (
        "404"
        in doc["/admin/integration/{integration_id}/webhooks/{webhook_id}/recoveries/{recovery_id}"]["get"][
            "responses"
        ]
    )


async def test_a_recovery_resumes_after_a_restart(
    database_url: str, service_env: dict[str, str], topics: Topics
) -> None:
    settings = make_settings(database_url, service_env)
    box = SecretBox(settings.secrets_key)
    since = utcnow() - timedelta(minutes=5)
    async with start_harness(settings) as api:
        wh = await api.create_webhook()
        results = [
            make_result(
                wh,
                f"msg_r{n}",
                "dead_lettered",
                attempted_at=utcnow(),
                payload_encrypted=box.encrypt(f'{{"n":{n}}}', f"delivery:msg_r{n}"),
            )
            for n in range(6)
        ]
        results.append(make_result(wh, "msg_gone", "failed", attempted_at=utcnow()))  # no payload: skipped
        await store(api, results)
        resp = await api.client.post(
            f"/admin/integration/surveymonkey/webhooks/{wh['id']}/recover",
            json={"since": since.isoformat(), "rate_per_s": 2},
        )
        recovery = resp.json()
        assert recovery["total"] == 7

        async def some_sent() -> bool:
            return bool((await api.client.get(recovery["progress_url"])).json()["sent"] >= 2)

        await wait_until(some_sent, timeout_s=30, what="two sent")
        before = (await api.client.get(recovery["progress_url"])).json()
        assert before["state"] == "running" and before["pending"] > 0
    async with start_harness(settings) as again:  # a restarted config API takes it up
        done = await progress(again.client, recovery["progress_url"], "done")
        assert (done["sent"], done["skipped"]) == (6, 1)
    want = {recovered_delivery_id(f"msg_r{n}", recovery["id"]) for n in range(6)}
    jobs: dict[str, DeliveryJobV1] = {}

    def all_seen(_: bytes | None, value: bytes | None) -> bool:
        if value is not None:
            sent = DeliveryJobV1.model_validate_json(value)
            jobs[sent.delivery_id] = sent
        return want <= set(jobs)

    await read_topic(settings.kafka_bootstrap_servers, topics.deliveries, all_seen)
    assert set(jobs) == want  # the six, each under its own recovered id (a crash may repeat one, same id)
    assert all(j.replay is not None and j.replay.kind == "recovery" for j in jobs.values())
    for n in range(6):  # encrypted on Kafka (the default), bound to the recovered id
        job = jobs[recovered_delivery_id(f"msg_r{n}", recovery["id"])]
        assert job.body is None and Payloads(box).open(job).body_text == f'{{"n":{n}}}'
