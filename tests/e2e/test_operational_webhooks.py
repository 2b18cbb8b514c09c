"""Operational webhooks end to end: carehooks' own events delivered to ordinary, signed webhooks.

Services as processes on the embedded broker and PostgreSQL, receivers on loopback:

- a SurveyMonkey webhook whose receiver answers 410 Gone is deactivated by the config API, which writes
  ``webhook_deactivated.v1`` on ``webhooks.ops``; the dispatcher turns it into a ``webhook.deactivated``
  event of the built-in ``carehooks`` integration, and an operational webhook subscribed to it receives
  it signed (verified with its secret), naming the deactivated webhook and the reason, without the
  payload of the event that failed;
- the worker announces the dead letter of that delivery: ``delivery.dead_lettered`` (ids, no body);
- a webhook whose delivery fails (CONFIG_API_FAILING_AFTER_FAILURES=1) is announced as
  ``webhook.failing``, and ``webhook.recovered`` once a delivery succeeds again;
- a dead letter replayed through the DLQ replayer's API ends as ``dlq.replay.completed`` (counts, no
  payload) at an operational webhook;
- no loops: an operational webhook that itself answers 410 is dead-lettered and deactivated too (the
  deactivation is recorded on ``webhooks.ops``), but no operational event about it reaches anyone.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer
from standardwebhooks import Webhook
from test_pipeline import FAST_RETRIES, Receiver, create_webhook, eventually, publish, views_indexed

from contracts.catalogs import CAREHOOKS_EVENT_TYPES

if TYPE_CHECKING:
    from tests.e2e.conftest import StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "surveymonkey"
SAMPLE = SAMPLES / "response_completed.json"


@dataclass
class ScriptedReceiver(Receiver):
    """A :class:`Receiver` whose answers per path can be scripted (status codes, used up in order)."""

    answers: dict[str, list[int]] = field(default_factory=dict)


@pytest.fixture
async def receiver() -> AsyncIterator[ScriptedReceiver]:
    """Records every POST; paths ending in ``gone`` answer 410 Gone, scripted paths their next status,
    the others 200."""
    recorded = ScriptedReceiver(url="")

    async def record(request: web.Request) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        recorded.requests.append((request.path, headers, await request.read()))
        scripted = recorded.answers.get(request.path)
        if scripted:
            return web.Response(status=scripted.pop(0))
        return web.Response(status=410) if request.path.endswith("gone") else web.json_response({"ok": 1})

    app = web.Application()
    app.router.add_post("/{tail:.*}", record)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    recorded.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield recorded
    await runner.cleanup()


async def ops_records(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every record on the ops topic so far."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=2000)
        return [json.loads(r.value) for records in batches.values() for r in records if r.value]
    finally:
        await consumer.stop()


async def test_a_deactivation_reaches_an_operational_webhook_signed_and_without_loops(
    stack_factory: StackFactory, receiver: ScriptedReceiver
) -> None:
    stack = stack_factory(services=["config-api", "dispatcher", "delivery-worker"])
    async with httpx.AsyncClient(
        base_url=stack.config_api_url, headers=stack.admin_headers, timeout=10
    ) as api:
        catalog = await api.get("/admin/integration/carehooks/event-types")
        assert catalog.status_code == 200, catalog.text
        # The built-in integration (migration 007) lists exactly the contracts' catalog.
        assert {i["name"]: i["description"] for i in catalog.json()["items"]} == CAREHOOKS_EVENT_TYPES

        def hook(path: str, event_types: list[str]) -> dict[str, Any]:
            return {
                "subscription_url": f"{receiver.url}/{path}",
                "event_types": event_types,
                "retry_policy": FAST_RETRIES,
                "timeout_ms": 5000,
            }

        ops = await create_webhook(api, "carehooks", hook("ops", ["webhook.deactivated"]))
        ops_gone = await create_webhook(api, "carehooks", hook("ops-gone", ["*"]))
        ops_dlq = await create_webhook(api, "carehooks", hook("ops-dlq", ["delivery.dead_lettered"]))
        failing = await create_webhook(api, "surveymonkey", hook("survey-gone", ["response_completed"]))

        await views_indexed(stack, 4)
        await publish(stack, SAMPLE)

        # The 410 deactivates the SurveyMonkey webhook; the operational webhook hears of it, signed.
        headers, raw = await receiver.wait_for("/ops", timeout_s=60)
        payload = Webhook(ops["signing_secret"]).verify(raw, headers)
        assert payload["type"] == "webhook.deactivated"
        assert payload["integration_id"] == "carehooks"
        assert (payload["object_type"], payload["object_id"]) == ("webhook", failing["id"])
        assert payload["data"]["webhook_id"] == failing["id"]
        assert payload["data"]["integration_id"] == "surveymonkey"
        assert "410 Gone" in payload["data"]["reason"]
        # No payload of the event that failed: no survey, respondent or recipient data.
        text = raw.decode()
        for secret_bit in ("Jane.Doe", "123456789", "10000001", "recipient"):
            assert secret_bit not in text, secret_bit
        state = (await api.get(f"/admin/integration/surveymonkey/webhooks/{failing['id']}")).json()
        assert state["active"] is False

        # The worker announced the dead letter of the 410 delivery, too (ids and reason, no body).
        headers, raw = await receiver.wait_for("/ops-dlq", timeout_s=30)
        letter = Webhook(ops_dlq["signing_secret"]).verify(raw, headers)
        assert letter["type"] == "delivery.dead_lettered"
        assert letter["data"]["webhook_id"] == failing["id"]
        assert letter["data"]["final_status_code"] == 410
        assert "Jane.Doe" not in raw.decode()

        # ops-gone got the same event, answered 410, and was deactivated in turn ...
        await receiver.wait_for("/ops-gone", timeout_s=30)

        async def ops_gone_deactivated() -> bool:
            got = (await api.get(f"/admin/integration/carehooks/webhooks/{ops_gone['id']}")).json()
            return got["active"] is False

        await eventually(ops_gone_deactivated, "the failing operational webhook to be deactivated", 60)

        # ... which is recorded on webhooks.ops for operators ...
        async def recorded_on_ops() -> bool:
            records = await ops_records(stack.env["KAFKA_BOOTSTRAP_SERVERS"], stack.topics.ops)
            return any(r.get("webhook_id") == ops_gone["id"] for r in records)

        await eventually(recorded_on_ops, "the ops record about the operational webhook", 30)

        # ... but never becomes an operational event: a later deactivation is delivered, that one not.
        later = await create_webhook(api, "surveymonkey", hook("later-gone", ["response_completed"]))
        await asyncio.sleep(2.0)  # the worker's view
        await publish(stack, SAMPLE)  # the failing webhook is inactive now: only `later` gets it

        async def later_announced() -> list[dict[str, Any]]:
            bodies = [json.loads(b) for p, _, b in receiver.requests if p == "/ops"]
            return [b for b in bodies if b["object_id"] == later["id"]]

        await eventually(later_announced, "the later deactivation at the operational webhook", 60)
        await asyncio.sleep(2.0)
        about = [
            json.loads(b)["data"]["webhook_id"]
            for p, _, b in receiver.requests
            if p in ("/ops", "/ops-gone", "/ops-dlq")
        ]
        assert ops_gone["id"] not in about, "an operational webhook's failure became an operational event"
        assert sorted(set(about)) == sorted({failing["id"], later["id"]})


async def test_a_failing_webhook_and_its_recovery_reach_an_operational_webhook(
    stack_factory: StackFactory, receiver: ScriptedReceiver
) -> None:
    stack = stack_factory(
        services=["config-api", "dispatcher", "delivery-worker"],
        extra_env={"CONFIG_API_FAILING_AFTER_FAILURES": "1"},
    )
    flaky_answers = [503]  # the first request fails, the later ones succeed

    async with httpx.AsyncClient(
        base_url=stack.config_api_url, headers=stack.admin_headers, timeout=10
    ) as api:
        ops = await create_webhook(
            api,
            "carehooks",
            {
                "subscription_url": f"{receiver.url}/ops-health",
                "event_types": ["webhook.failing", "webhook.recovered"],
                "retry_policy": FAST_RETRIES,
            },
        )
        one_attempt = {**FAST_RETRIES, "max_attempts": 1}
        flaky = await create_webhook(
            api,
            "surveymonkey",
            {"subscription_url": f"{receiver.url}/flaky", "event_types": ["*"], "retry_policy": one_attempt},
        )
        receiver.answers["/flaky"] = flaky_answers
        await views_indexed(stack, 2)
        await publish(stack, SAMPLES / "response_completed.json")

        headers, raw = await receiver.wait_for("/ops-health", timeout_s=60)
        failing = Webhook(ops["signing_secret"]).verify(raw, headers)
        assert (failing["type"], failing["object_id"]) == ("webhook.failing", flaky["id"])
        assert failing["data"]["consecutive_failures"] == 1
        assert failing["data"]["last_status_code"] == 503

        await publish(stack, SAMPLES / "contact_created.json")  # answered 200: the webhook recovers

        async def recovered() -> list[dict[str, Any]]:
            bodies = [json.loads(b) for p, _, b in receiver.requests if p == "/ops-health"]
            return [b for b in bodies if b["type"] == "webhook.recovered"]

        got = await eventually(recovered, "webhook.recovered at the operational webhook", 60)
        assert got[0]["object_id"] == flaky["id"]
        state = (await api.get(f"/admin/integration/surveymonkey/webhooks/{flaky['id']}")).json()
        assert state["active"] is True


async def test_a_replay_end_reaches_an_operational_webhook(
    stack_factory: StackFactory, receiver: ScriptedReceiver
) -> None:
    """A dead letter replayed through the DLQ replayer's API: the replay's end arrives as
    ``dlq.replay.completed``, signed, with its counts and no payload."""
    stack = stack_factory(services=["config-api", "dispatcher", "delivery-worker", "dlq-replayer"])
    async with httpx.AsyncClient(
        base_url=stack.config_api_url, headers=stack.admin_headers, timeout=10
    ) as api:
        ops = await create_webhook(
            api,
            "carehooks",
            {
                "subscription_url": f"{receiver.url}/ops-replay",
                "event_types": ["dlq.replay.completed"],
                "retry_policy": FAST_RETRIES,
            },
        )
        one_attempt = {**FAST_RETRIES, "max_attempts": 1}
        down = await create_webhook(
            api,
            "surveymonkey",
            {"subscription_url": f"{receiver.url}/down", "event_types": ["*"], "retry_policy": one_attempt},
        )
        receiver.answers["/down"] = [503]  # dead-lettered at once; the replayed copy gets 200
        await views_indexed(stack, 2)
        await publish(stack, SAMPLE)

    async with httpx.AsyncClient(
        base_url=stack.url("dlq-replayer"), headers=stack.admin_headers, timeout=30
    ) as dlq:

        async def dead_lettered() -> bool:
            listed = await dlq.get("/dlq/messages", params={"webhook": down["id"]})
            return listed.status_code == 200 and listed.json()["count"] == 1

        await eventually(dead_lettered, "the dead letter in the DLQ", 60)
        started = await dlq.post("/dlq/replays", json={"webhook": down["id"], "rate": 50})
        assert started.status_code == 202, started.text
        replay_id = started.json()["replay_id"]

    headers, raw = await receiver.wait_for("/ops-replay", timeout_s=60)
    ended = Webhook(ops["signing_secret"]).verify(raw, headers)
    assert (ended["type"], ended["object_type"], ended["object_id"]) == (
        "dlq.replay.completed",
        "replay",
        replay_id,
    )
    data = ended["data"]
    assert (data["status"], data["selected"], data["replayed"], data["failed"]) == ("completed", 1, 1, 0)
    assert data["integration_ids"] == ["surveymonkey"]
    for secret_bit in ("Jane.Doe", "123456789", "10000001", "recipient"):
        assert secret_bit not in raw.decode(), secret_bit

    async def redelivered() -> bool:  # the replayed copy arrived: a second POST, answered 200
        return sum(1 for p, _, _ in receiver.requests if p == "/down") >= 2

    await eventually(redelivered, "the replayed delivery at the receiver", 60)
