"""Test delivery (real aiohttp receivers on 127.0.0.1) and manual retry of a delivery (real broker)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from capi_harness import ApiHarness
from delivery_helpers import make_result, publish, read_topic, wait_ingested, wait_until
from standardwebhooks.webhooks import Webhook

from contracts.deliveries import DeliveryJobV1
from delivery_worker.app import create_app as create_worker
from delivery_worker.settings import WorkerSettings
from webhook_core.payload_crypto import Payloads
from webhook_core.secrets_crypto import SecretBox

pytestmark = pytest.mark.integration


class Receiver:
    """An HTTP receiver on 127.0.0.1 that records what it gets."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.url = ""
        app = web.Application()
        app.add_routes(
            [web.post("/ok", self._ok), web.post("/fail", self._fail), web.post("/slow", self._slow)]
        )
        self.runner = web.AppRunner(app, access_log=None)

    async def _ok(self, request: web.Request) -> web.Response:
        self.requests.append(("ok", dict(request.headers), await request.read()))
        return web.Response(text="thanks")

    async def _fail(self, request: web.Request) -> web.Response:
        self.requests.append(("fail", dict(request.headers), await request.read()))
        return web.Response(status=500, text="broken")

    async def _slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(text="late")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    await rec.runner.setup()
    site = web.TCPSite(rec.runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rec.url = f"http://127.0.0.1:{port}"
    yield rec
    await rec.runner.cleanup()


TEST = "/admin/integration/{}/webhooks/test"


async def test_test_delivery_success_failure_timeout_and_ssrf(api: ApiHarness, receiver: Receiver) -> None:
    wh = await api.create_webhook(
        subscription_url=f"{receiver.url}/ok", auth={"type": "bearer", "token": "s3cr3t-token-value"}
    )
    operator = api.as_token(await api.make_token("operator"))
    resp = await operator.post(TEST.format("surveymonkey"), json={"webhook_id": wh["id"]})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert (out["success"], out["status_code"], out["response_body"], out["error"]) == (
        True,
        200,
        "thanks",
        None,
    )
    assert out["response_ms"] >= 0
    shown = out["request"]["headers"]
    assert shown["authorization"] == "Bearer ****alue" and shown["webhook-signature"].startswith("v1,")
    _, got_headers, got_body = receiver.requests[-1]
    assert got_headers["Authorization"] == "Bearer s3cr3t-token-value"
    assert got_body.decode() == out["request"]["body"]
    Webhook(wh["signing_secret"]).verify(got_body, got_headers)  # raises when the signature is wrong
    sample = json.loads(got_body)
    assert sample["type"] == "response_completed" and sample["data"]["object_type"] == "response"

    # A URL and an event type: signed with a throwaway secret that the answer shows.
    resp = await api.client.post(
        TEST.format("ehr"),
        json={"subscription_url": f" {receiver.url}/fail ", "event_type": "Patient.update"},
    )
    out = resp.json()
    assert resp.status_code == 200, resp.text
    assert (out["success"], out["status_code"], out["error_category"], out["response_body"]) == (
        False,
        500,
        "http_5xx",
        "broken",
    )
    _, got_headers, got_body = receiver.requests[-1]
    Webhook(out["request"]["signing_secret"]).verify(got_body, got_headers)
    assert json.loads(got_body)["data"]["resourceType"] == "Patient"

    slow = await api.create_webhook(subscription_url=f"{receiver.url}/slow", timeout_ms=300)
    out = (await api.client.post(TEST.format("surveymonkey"), json={"webhook_id": slow["id"]})).json()
    assert (out["success"], out["error_category"], out["status_code"]) == (False, "timeout", None)

    api.dns.names["internal.example.com"] = ["10.0.0.5"]
    for host, category in (("internal.example.com", "ssrf_blocked"), ("nowhere.example.com", "dns_error")):
        resp = await api.client.post(
            TEST.format("surveymonkey"),
            json={"subscription_url": f"https://{host}/hook", "event_type": "survey_created"},
        )
        assert resp.status_code == 200, resp.text
        assert (resp.json()["success"], resp.json()["error_category"]) == (False, category)


async def test_test_delivery_bad_inputs(api: ApiHarness) -> None:
    wh = await api.create_webhook()
    fhir = await api.create_webhook("ehr")
    url = TEST.format("surveymonkey")
    cases: list[tuple[Any, int, str]] = [
        ({}, 422, "webhook_id"),
        ({"webhook_id": wh["id"], "subscription_url": "https://hooks.example.com/a"}, 422, "webhook_id"),
        ({"subscription_url": "https://hooks.example.com/a"}, 422, "event_type"),
        (
            {"subscription_url": "ftp://hooks.example.com/a", "event_type": "survey_created"},
            422,
            "subscription_url",
        ),
        (
            {"subscription_url": "https://hooks.example.com/a", "event_type": "Patient.create"},
            422,
            "event_type",
        ),
        ({"webhook_id": wh["id"], "surprise": 1}, 422, "surprise"),
        ({"webhook_id": fhir["id"]}, 404, "webhook_id"),
        ({"webhook_id": "wh_nope"}, 404, "webhook_id"),
        ("not an object", 422, "body"),
        ({"webhook_id": "wh\x00"}, 422, "webhook_id"),
    ]
    for body, status, field in cases:
        resp = await api.client.post(url, json=body)
        assert resp.status_code == status, (body, resp.text)
        assert field in json.dumps(resp.json()["errors"]), (body, resp.text)
    resp = await api.client.post(url, content=b"{broken", headers={"content-type": "application/json"})
    assert resp.status_code == 422
    assert (await api.client.post(TEST.format("nope"), json={"webhook_id": wh["id"]})).status_code == 404
    viewer = api.as_token(await api.make_token("viewer"))
    assert (await viewer.post(url, json={"webhook_id": wh["id"]})).status_code == 403


async def test_manual_retry_publishes_the_same_delivery_and_the_worker_sends_it(
    api: ApiHarness, receiver: Receiver, service_env: dict[str, str]
) -> None:
    wh = await api.create_webhook(subscription_url=f"{receiver.url}/ok")
    other = await api.create_webhook()
    box = SecretBox(api.settings.secrets_key)
    body = json.dumps({"type": "response_completed", "data": {"object_id": "123"}})
    results = [
        make_result(
            wh,
            "dl-1",
            "dead_lettered",
            attempt=8,
            status_code=500,
            error_category="http_5xx",
            payload_encrypted=box.encrypt(body, "delivery:dl-1"),
        ),
        make_result(wh, "ok-1", "succeeded", payload_encrypted=box.encrypt(body, "delivery:ok-1")),
        make_result(wh, "nopayload-1", "cancelled"),
    ]
    await publish(api.settings.kafka_bootstrap_servers, api.settings.topics.delivery_results, results)
    await wait_ingested(api.app.state.results_ingestor, len(results))

    operator = api.as_token(await api.make_token("operator"))
    replays = {}
    for delivery in ("dl-1", "ok-1"):
        resp = await operator.post(
            f"/admin/integration/surveymonkey/webhooks/{wh['id']}/deliveries/{delivery}/retry"
        )
        assert resp.status_code == 202, resp.text
        answer = resp.json()
        assert answer["delivery_id"] == delivery and answer["attempt"] == 1
        assert answer["logs_url"].endswith(f"/logs?delivery_id={delivery}")
        replays[delivery] = answer["replay_id"]

    records = await read_topic(
        api.settings.kafka_bootstrap_servers,
        api.settings.topics.deliveries,
        lambda _, v: v is not None and replays["ok-1"].encode() in v,
    )
    jobs = {
        j.delivery_id: (j, h)
        for j, h in (
            (Payloads(box).open(DeliveryJobV1.model_validate_json(v)), h) for _, v, h in records if v
        )
    }
    # Manual retries follow KAFKA_PAYLOAD_ENCRYPTION (on by default): no plaintext body on the topic.
    assert all(v is not None and b'"body":' not in v for _, v, _ in records)
    for delivery, replay_id in replays.items():
        job, headers = jobs[delivery]
        assert job.webhook_id == wh["id"] and job.attempt == 1 and job.attempts == [] and job.body == body
        assert job.event_id == f"ev-{delivery}" and job.event_type == "response_completed"
        assert job.replay is not None
        assert (job.replay.kind, job.replay.replay_id, job.replay.requested_by) == (
            "manual_retry",
            replay_id,
            "token:operator-token",
        )
        assert ("delivery-id", delivery.encode()) in headers
    audited = await api.app.state.pool.fetch(
        "SELECT actor, details FROM audit_log WHERE action = 'delivery.retry'"
    )
    assert len(audited) == 2 and {r["actor"] for r in audited} == {"token:operator-token"}

    base = f"/admin/integration/surveymonkey/webhooks/{wh['id']}/deliveries"
    assert (await operator.post(f"{base}/unknown/retry")).status_code == 404
    assert (await operator.post(f"{base}/nopayload-1/retry")).status_code == 404
    other_path = f"/admin/integration/surveymonkey/webhooks/{other['id']}/deliveries/dl-1/retry"
    assert (await operator.post(other_path)).status_code == 404
    assert (
        await operator.post(f"/admin/integration/ehr/webhooks/{wh['id']}/deliveries/dl-1/retry")
    ).status_code == 404
    viewer = api.as_token(await api.make_token("viewer"))
    assert (await viewer.post(f"{base}/dl-1/retry")).status_code == 403

    # The real worker sends both jobs with the delivery id as webhook-id; the attempts come back to the logs.
    env = {k.lower(): v for k, v in service_env.items()}
    worker_settings = {**env, "port": 0, "group_id": f"dw-{env['topic_prefix']}", "poll_timeout_ms": 20}
    worker = create_worker(WorkerSettings(**worker_settings))
    await worker.start()
    try:
        await wait_until(lambda: len(receiver.requests) >= 2, what="retried deliveries received")
        assert sorted(h["webhook-id"] for _, h, _ in receiver.requests) == ["dl-1", "ok-1"]
        assert all(b.decode() == body for _, _, b in receiver.requests)
        logs_url = f"/admin/integration/surveymonkey/webhooks/{wh['id']}/logs"

        async def replay_logged() -> bool:
            page = await api.client.get(logs_url, params={"delivery_id": "dl-1"})
            items = page.json()["items"]
            return any(i["replay_id"] == replays["dl-1"] and i["outcome"] == "succeeded" for i in items)

        await wait_until(replay_logged, what="retry attempt in the logs")
    finally:
        await worker.stop()

    resp = await api.client.patch(
        f"/admin/integration/surveymonkey/webhooks/{wh['id']}", json={"active": False}
    )
    assert resp.status_code == 200, resp.text
    resp = await operator.post(f"{base}/dl-1/retry")
    assert resp.status_code == 409 and "inactive" in resp.text
