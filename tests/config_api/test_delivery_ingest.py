"""Delivery results through the real broker into PostgreSQL: logs, status, idempotency, auto-deactivation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from capi_harness import ApiHarness, make_settings, start_harness
from delivery_helpers import make_result, publish, read_topic, wait_ingested, wait_until

from config_api.deliveries.deactivation import mark_failing_too_long
from config_api.deliveries.status import failing_counts
from contracts.base import utcnow
from contracts.events import WebhookDeactivatedV1
from contracts.topics import Topics

pytestmark = pytest.mark.integration


@pytest.fixture
async def dapi(database_url: str, service_env: dict[str, str], topics: Topics) -> AsyncIterator[ApiHarness]:
    """A config API that deactivates after 3 consecutive dead letters."""
    del topics
    settings = make_settings(
        database_url, service_env, auto_disable_after_failures=3, delivery_maintenance_interval_s=0.2
    )
    async for harness in start_harness(settings):
        yield harness


def base(wh: dict[str, Any]) -> str:
    return f"/admin/integration/{wh['integration_id']}/webhooks/{wh['id']}"


async def test_results_become_logs_and_status_once(dapi: ApiHarness) -> None:
    wh = await dapi.create_webhook()
    now = utcnow()
    results = [make_result(wh, "d-old", attempted_at=now - timedelta(days=2), response_ms=30)]
    results += [
        make_result(
            wh,
            "d-f1",
            "retrying",
            attempted_at=now - timedelta(hours=3),
            status_code=500,
            error_category="http_5xx",
            response_ms=1500,
            next_attempt_at=now - timedelta(hours=2),
        ),
        make_result(
            wh,
            "d-f1",
            "dead_lettered",
            attempt=2,
            attempted_at=now - timedelta(hours=2),
            status_code=500,
            error_category="http_5xx",
            response_ms=2000,
            error_message="HTTP 500",
            response_body_excerpt="oops\x00" + "é" * 3000,
            event_type="response_created",
        ),
    ]
    results += [
        make_result(wh, f"d-s{i}", attempted_at=now - timedelta(minutes=i + 1), response_ms=10 * (i + 1))
        for i in reversed(range(10))
    ]
    results.append(
        make_result(
            wh,
            "d-f0",
            "retrying",
            attempted_at=now - timedelta(seconds=30),
            status_code=503,
            error_category="http_5xx",
            response_ms=2500,
            next_attempt_at=now + timedelta(minutes=5),
        )
    )
    ingestor = dapi.app.state.results_ingestor
    await publish(
        dapi.settings.kafka_bootstrap_servers, dapi.settings.topics.delivery_results, [*results, b"not json"]
    )
    await wait_ingested(ingestor, len(results) + 1)
    assert (ingestor.stored, ingestor.invalid) == (len(results), 1)

    status = (await dapi.client.get(f"{base(wh)}/status")).json()
    assert status["active"] is True and status["window"] == "24h"
    assert (status["attempts"], status["succeeded"], status["failed"], status["dead_lettered"]) == (
        13,
        10,
        3,
        1,
    )
    assert status["success_rate"] == round(10 / 13, 4)
    assert status["pending_retries"] == 1
    assert status["consecutive_failures"] == 0  # the dead letter was followed by successes
    assert status["last_error"] == "HTTP 503" and status["last_error_category"] == "http_5xx"
    assert status["failing_since"] is not None and status["last_success_at"] is not None
    assert 50 <= status["p50_ms"] <= 90 and status["p95_ms"] >= 1200
    assert len(status["series"]) == 24 and sum(p["attempts"] for p in status["series"]) == 13
    hour = (await dapi.client.get(f"{base(wh)}/status", params={"window": "1h"})).json()
    week = (await dapi.client.get(f"{base(wh)}/status", params={"window": "7d"})).json()
    assert (hour["attempts"], len(hour["series"])) == (11, 12)
    assert (week["attempts"], len(week["series"])) == (14, 28)

    # Every page newest first, no duplicates, nothing missing.
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = (await dapi.client.get(f"{base(wh)}/logs", params=params)).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(items) == 14
    times = [i["attempted_at"] for i in items]
    assert times == sorted(times, reverse=True)
    assert items[0]["delivery_id"] == "d-f0" and items[-1]["delivery_id"] == "d-old"
    assert set(items[0]) >= {
        "delivery_id",
        "event_id",
        "event_type",
        "attempt",
        "outcome",
        "status_code",
        "error_category",
        "error",
        "response_ms",
        "response_body_excerpt",
        "attempted_at",
        "next_attempt_at",
    }

    async def logs(**params: Any) -> list[dict[str, Any]]:
        resp = await dapi.client.get(f"{base(wh)}/logs", params=params)
        assert resp.status_code == 200, resp.text
        found: list[dict[str, Any]] = resp.json()["items"]
        return found

    dead = await logs(outcome="dead_lettered")
    assert [d["delivery_id"] for d in dead] == ["d-f1"]
    excerpt = dead[0]["response_body_excerpt"]
    assert len(excerpt.encode()) <= 1024 and "\x00" not in excerpt and excerpt.startswith("oops")
    assert [d["delivery_id"] for d in await logs(status_code=503)] == ["d-f0"]
    assert [d["attempt"] for d in await logs(delivery_id="d-f1")] == [2, 1]
    assert len(await logs(event_type="response_created")) == 1
    window = await logs(
        since=(now - timedelta(minutes=150)).isoformat(), until=(now - timedelta(minutes=90)).isoformat()
    )
    assert [(d["delivery_id"], d["outcome"]) for d in window] == [("d-f1", "dead_lettered")]

    # Re-consuming the same results (a crash before the offset commit) changes nothing.
    await publish(dapi.settings.kafka_bootstrap_servers, dapi.settings.topics.delivery_results, results)
    await wait_ingested(ingestor, 2 * len(results) + 1)
    assert ingestor.duplicates == len(results)
    again = (await dapi.client.get(f"{base(wh)}/status")).json()
    assert again == status
    assert len(await logs(limit=200)) == 14


async def test_log_and_status_bad_inputs(dapi: ApiHarness) -> None:
    wh = await dapi.create_webhook()
    fhir_wh = await dapi.create_webhook("ehr")
    bad = [
        ({"cursor": "nonsense"}, "cursor"),
        ({"outcome": "exploded"}, "outcome"),
        ({"status_code": "abc"}, "status_code"),
        ({"status_code": 99}, "status_code"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"event_type": "a\x00b"}, "event_type"),
        ({"delivery_id": "\x00"}, "delivery_id"),
    ]
    for params, field in bad:
        resp = await dapi.client.get(f"{base(wh)}/logs", params=params)
        assert resp.status_code == 422, (params, resp.text)
        assert field in json.dumps(resp.json()["errors"])
    assert (await dapi.client.get(f"{base(wh)}/status", params={"window": "2d"})).status_code == 422
    for path in (
        f"/admin/integration/surveymonkey/webhooks/{fhir_wh['id']}/logs",  # webhook of another integration
        "/admin/integration/surveymonkey/webhooks/nope/status",
        f"/admin/integration/nope/webhooks/{wh['id']}/logs",
        "/admin/integration/nope/delivery-summary",
    ):
        resp = await dapi.client.get(path)
        assert resp.status_code == 404, (path, resp.text)
    viewer = dapi.as_token(await dapi.make_token("viewer"))
    assert (await viewer.get(f"{base(wh)}/logs")).status_code == 200
    assert (await dapi.as_token(None).get(f"{base(wh)}/status")).status_code == 401
    scoped = dapi.as_token(await dapi.make_token("viewer", ["ehr"]))
    assert (await scoped.get(f"{base(wh)}/status")).status_code == 404
    summary = (await dapi.client.get("/admin/integration/surveymonkey/delivery-summary")).json()
    assert summary["failing"] == 0 and [w["webhook_id"] for w in summary["webhooks"]] == [wh["id"]]


async def test_auto_deactivation_from_real_results(dapi: ApiHarness) -> None:
    gone = await dapi.create_webhook(name="gone")
    flaky = await dapi.create_webhook(name="flaky")
    topic = dapi.settings.topics.delivery_results
    bootstrap = dapi.settings.kafka_bootstrap_servers
    ingestor = dapi.app.state.results_ingestor
    dl = {"status_code": 500, "error_category": "http_5xx", "attempt": 8}
    first = [
        make_result(gone, "g1", "failed", status_code=410, error_category="http_4xx", gone=True),
        make_result(flaky, "f1", "dead_lettered", **dl),
        make_result(flaky, "f2", "dead_lettered", **dl),
        make_result(flaky, "f3", "succeeded"),
        make_result(flaky, "f4", "dead_lettered", **dl),
        make_result(flaky, "f5", "dead_lettered", **dl),
    ]
    await publish(bootstrap, topic, first)
    await wait_ingested(ingestor, len(first))

    async def webhook(wh: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = (await dapi.client.get(base(wh))).json()
        return data

    async def inactive(wh: dict[str, Any]) -> bool:
        return not (await webhook(wh))["active"]

    await wait_until(lambda: inactive(gone), what="410 deactivation")
    assert "410 Gone" in (await webhook(gone))["deactivated_reason"]
    flaky_status = (await dapi.client.get(f"{base(flaky)}/status")).json()
    assert flaky_status["active"] is True and flaky_status["consecutive_failures"] == 2

    await publish(bootstrap, topic, [make_result(flaky, "f6", "dead_lettered", **dl)])
    await wait_until(lambda: inactive(flaky), what="dead-letter deactivation")
    assert "3 consecutive deliveries" in (await webhook(flaky))["deactivated_reason"]

    ops = await read_topic(bootstrap, dapi.settings.topics.ops, lambda k, _: k == flaky["id"].encode())
    # webhooks.ops also carries other operational records (webhook_health_changed.v1: failing / recovered).
    events = [
        WebhookDeactivatedV1.model_validate_json(v) for _, v, _ in ops if v and b"webhook_deactivated" in v
    ]
    assert sorted(e.webhook_id for e in events) == sorted([gone["id"], flaky["id"]])
    config = await read_topic(
        bootstrap,
        dapi.settings.topics.webhooks_config,
        lambda k, v: k == flaky["id"].encode() and v is not None and b'"active":false' in v,
    )
    assert any(k == gone["id"].encode() and v and b'"active":false' in v for k, v, _ in config)
    audited = await dapi.app.state.pool.fetch(
        "SELECT actor, action FROM audit_log WHERE webhook_id = $1", flaky["id"]
    )
    assert ("system:auto-deactivation", "webhook.deactivate") in [(r["actor"], r["action"]) for r in audited]

    # Re-activated: a clean slate, one more dead letter does not switch it off again.
    resp = await dapi.client.patch(base(flaky), json={"active": True})
    assert resp.status_code == 200, resp.text
    assert (await dapi.client.get(f"{base(flaky)}/status")).json()["consecutive_failures"] == 0
    # A late 410 for the webhook already switched off must not announce it again.
    late_gone = make_result(gone, "g2", "failed", status_code=410, error_category="http_4xx", gone=True)
    await publish(bootstrap, topic, [make_result(flaky, "f7", "dead_lettered", **dl), late_gone])
    await wait_ingested(ingestor, len(first) + 3)
    assert (await dapi.client.get(f"{base(flaky)}/status")).json()["consecutive_failures"] == 1
    assert (await webhook(flaky))["active"] is True

    # Failing without success for auto_disable_after_s (5 days): counted from the re-activation.
    pool = dapi.app.state.pool
    maintenance = dapi.app.state.delivery_maintenance
    assert await mark_failing_too_long(pool, maintenance.thresholds, now=utcnow() + timedelta(days=4)) == 0
    healthy = await dapi.create_webhook(name="healthy")
    await publish(
        bootstrap,
        topic,
        [make_result(healthy, "h1", "retrying", status_code=503), make_result(healthy, "h2")],
    )
    await wait_ingested(ingestor, len(first) + 5)
    # The periodic task does the rest: with a 1 s limit it switches off the failing webhook only.
    maintenance.thresholds = replace(maintenance.thresholds, max_failing_s=1.0)
    await wait_until(lambda: inactive(flaky), what="time-based deactivation by the periodic task")
    assert "no successful delivery since" in (await webhook(flaky))["deactivated_reason"]
    assert (await webhook(healthy))["active"] is True

    summary = (await dapi.client.get("/admin/integration/surveymonkey/delivery-summary")).json()
    assert (summary["failing"], summary["inactive"]) == (0, 2)
    by_id = {w["webhook_id"]: w for w in summary["webhooks"]}
    assert by_id[flaky["id"]]["active"] is False and by_id[flaky["id"]]["dead_lettered_24h"] == 6
    assert by_id[healthy["id"]]["failing"] is False and by_id[healthy["id"]]["attempts_24h"] == 2
    counts = await failing_counts(dapi.app.state.pool, ["surveymonkey", "ehr"])
    assert counts == {"surveymonkey": {"failing": 0, "inactive": 2}, "ehr": {"failing": 0, "inactive": 0}}
    ops = await read_topic(
        bootstrap, dapi.settings.topics.ops, lambda _, v: v is not None and b"no successful" in v
    )
    announced = sorted(
        WebhookDeactivatedV1.model_validate_json(v).webhook_id
        for _, v, _ in ops
        if v and b"webhook_deactivated" in v
    )
    assert announced == sorted([gone["id"], flaky["id"], flaky["id"]])  # one event per deactivation
