"""Delivery search across an integration and the status endpoint's error breakdown (real PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from capi_harness import ApiHarness
from delivery_helpers import make_result

from config_api.deliveries.breakdown import breakdown, error_rollup
from config_api.deliveries.health import Thresholds
from config_api.deliveries.latest import latest_per_delivery
from config_api.deliveries.store import store_results
from contracts.base import utcnow
from contracts.deliveries import DeliveryResultV1

pytestmark = pytest.mark.integration

LIMITS = Thresholds(max_consecutive_failures=1000, max_failing_s=10**9)
SEARCH = "/admin/integration/{}/deliveries"


async def store(api: ApiHarness, results: list[DeliveryResultV1]) -> None:
    async with api.app.state.pool.acquire() as conn:
        await store_results(conn, results, LIMITS)


async def test_search_by_event_and_object_across_webhooks(api: ApiHarness) -> None:
    a = await api.create_webhook(name="billing")
    b = await api.create_webhook(name="crm")
    now = utcnow()
    shared = {"event_id": "ev-appt-1", "object_type": "Appointment", "object_id": "appt-77"}
    await store(
        api,
        [
            make_result(
                a,
                "d-a",
                "retrying",
                status_code=503,
                error_category="http_5xx",
                attempted_at=now - timedelta(seconds=30),
                **shared,
            ),
            make_result(a, "d-a", "succeeded", attempt=2, attempted_at=now - timedelta(seconds=10), **shared),
            make_result(
                b,
                "d-b",
                "dead_lettered",
                status_code=401,
                error_category="http_4xx",
                error_message="unauthorized",
                attempted_at=now - timedelta(seconds=20),
                **shared,
            ),
            make_result(b, "d-other", "succeeded", attempted_at=now),
        ],
    )
    resp = await api.client.get(SEARCH.format("surveymonkey"), params={"event_id": "ev-appt-1"})
    assert resp.status_code == 200, resp.text
    items = resp.json()["items"]
    lines = {
        (i["delivery_id"], i["webhook_name"], i["outcome"], i["attempt"], i["status_code"]) for i in items
    }
    assert lines == {("d-a", "billing", "succeeded", 2, 200), ("d-b", "crm", "dead_lettered", 1, 401)}
    assert [i["delivery_id"] for i in items] == ["d-b", "d-a"]  # newest first by first attempt
    first = next(i for i in items if i["delivery_id"] == "d-a")
    assert first["first_attempt_at"] < first["last_attempt_at"]
    assert first["logs_url"].endswith(f"/webhooks/{a['id']}/logs?delivery_id=d-a")
    by_object = await api.client.get(SEARCH.format("surveymonkey"), params={"object_id": "appt-77"})
    assert {i["delivery_id"] for i in by_object.json()["items"]} == {"d-a", "d-b"}
    failed = await api.client.get(
        SEARCH.format("surveymonkey"), params={"outcome": "dead_lettered", "webhook_id": b["id"]}
    )
    assert [(i["delivery_id"], i["error"]) for i in failed.json()["items"]] == [("d-b", "unauthorized")]
    one = await api.client.get(SEARCH.format("surveymonkey"), params={"delivery_id": "d-other"})
    assert [i["event_id"] for i in one.json()["items"]] == ["ev-d-other"]
    window = await api.client.get(
        SEARCH.format("surveymonkey"),
        params={"since": (now - timedelta(seconds=25)).isoformat(), "until": now.isoformat()},
    )
    assert [i["delivery_id"] for i in window.json()["items"]] == ["d-b"]


async def test_search_pages_with_a_cursor_and_a_late_attempt_does_not_shift_pages(api: ApiHarness) -> None:
    wh = await api.create_webhook()
    now = utcnow()
    await store(
        api, [make_result(wh, f"d{i:02d}", attempted_at=now - timedelta(seconds=100 - i)) for i in range(25)]
    )
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        page = (await api.client.get(SEARCH.format("surveymonkey"), params=params)).json()
        pages += 1
        seen += [i["delivery_id"] for i in page["items"]]
        if pages == 1:  # a retry of an old delivery arrives while the client pages
            await store(
                api, [make_result(wh, "d00", "failed", attempt=1, replay_id="rt_x", attempted_at=now)]
            )
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"d{i:02d}" for i in reversed(range(25))] and pages == 3
    latest = (await api.client.get(SEARCH.format("surveymonkey"), params={"delivery_id": "d00"})).json()[
        "items"
    ]
    assert (latest[0]["outcome"], latest[0]["replay_id"]) == ("failed", "rt_x")


async def test_search_scope_and_bad_input(api: ApiHarness) -> None:
    await api.create_webhook()
    ehr_viewer = api.as_token(await api.make_token("viewer", ["ehr"]))
    assert (await ehr_viewer.get(SEARCH.format("surveymonkey"))).status_code == 404
    assert (await ehr_viewer.get(SEARCH.format("ehr"))).status_code == 200
    assert (await api.as_token(None).get(SEARCH.format("ehr"))).status_code == 401
    for params, loc in (
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"outcome": "exploded"}, "outcome"),
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since"),
        ({"limit": 0}, "limit"),
        ({"event_id": "a\x00b"}, "event_id"),
    ):
        resp = await api.client.get(SEARCH.format("surveymonkey"), params=params)
        assert resp.status_code == 422, (params, resp.text)
        assert loc in resp.text
    doc = (await api.client.get("/openapi.json")).json()
    responses = doc["paths"]["/admin/integration/{integration_id}/deliveries"]["get"]["responses"]
    assert {"200", "401", "404", "422"} <= set(responses)


async def test_status_breaks_failures_down_by_status_code_and_category(api: ApiHarness) -> None:
    wh = await api.create_webhook()
    now = utcnow()
    results = [make_result(wh, f"ok{i}", attempted_at=now) for i in range(3)]
    results += [
        make_result(wh, f"down{i}", "retrying", status_code=503, error_category="http_5xx", attempted_at=now)
        for i in range(4)
    ]
    results += [make_result(wh, "t", "dead_lettered", error_category="timeout", attempted_at=now)]
    results += [make_result(wh, "held", "retrying", error_category="circuit_open", attempted_at=now)]
    await store(api, results)
    status = (await api.client.get(f"/admin/integration/surveymonkey/webhooks/{wh['id']}/status")).json()
    assert status["status_codes"] == [{"status_code": 503, "count": 4}, {"status_code": 200, "count": 3}]
    assert status["error_categories"] == [
        {"error_category": "http_5xx", "count": 4},
        {"error_category": "timeout", "count": 1},
    ]
    hour = (
        await api.client.get(f"/admin/integration/surveymonkey/webhooks/{wh['id']}/status?window=1h")
    ).json()
    assert hour["status_codes"] == status["status_codes"]
    summary = (await api.client.get("/admin/integration/surveymonkey/delivery-summary")).json()
    assert summary["error_categories_24h"] == status["error_categories"]
    await store(api, results)  # the same batch again (re-consumed after a crash) counts nothing twice
    again = (await api.client.get(f"/admin/integration/surveymonkey/webhooks/{wh['id']}/status")).json()
    assert again["status_codes"] == status["status_codes"]


async def test_a_duplicate_job_s_later_result_is_still_the_latest(api: ApiHarness) -> None:
    # One event published twice: two jobs with one delivery id. Their attempts share the log's key,
    # so the second copy's dead letter is a duplicate row, yet it is the delivery's latest state.
    wh = await api.create_webhook()
    now = utcnow()
    first = [
        make_result(wh, "dup", "retrying", status_code=503, attempted_at=now - timedelta(seconds=9)),
        make_result(
            wh, "dup", "dead_lettered", attempt=2, status_code=503, attempted_at=now - timedelta(seconds=8)
        ),
    ]
    copy = [
        make_result(
            wh,
            "dup",
            "retrying",
            error_category="circuit_open",
            attempt=2,
            attempted_at=now - timedelta(seconds=5),
        ),
        make_result(wh, "dup", "dead_lettered", attempt=2, status_code=503, attempted_at=now),
    ]
    await store(api, first)
    await store(api, copy)
    await store(api, first)  # a batch consumed again moves nothing backwards
    items = (await api.client.get(SEARCH.format("surveymonkey"), params={"delivery_id": "dup"})).json()[
        "items"
    ]
    assert [(i["outcome"], i["last_attempt_at"]) for i in items] == [
        ("dead_lettered", now.isoformat().replace("+00:00", "Z"))
    ]


WH = {"id": "wh_1", "integration_id": "surveymonkey"}


def test_latest_per_delivery_takes_the_newest_and_keeps_the_first_time() -> None:
    now = utcnow()
    results = [
        make_result(WH, "x", "retrying", attempted_at=now - timedelta(seconds=5)),
        make_result(WH, "x", "succeeded", attempt=2, attempted_at=now),
        make_result(WH, "y", "failed", attempted_at=now),
        make_result(WH, "y", "dead_lettered", attempted_at=now),  # same time: the later one wins
    ]
    pairs = latest_per_delivery(results)
    assert [(f.delivery_id, f.attempted_at, r.outcome) for f, r in pairs] == [
        ("x", now - timedelta(seconds=5), "succeeded"),
        ("y", now, "dead_lettered"),
    ]


def test_error_rollup_counts_requests_made_in_both_bucket_sizes() -> None:
    now = utcnow()
    rollup = error_rollup(
        [
            make_result(WH, "a", "retrying", status_code=500, error_category="http_5xx", attempted_at=now),
            make_result(WH, "b", "cancelled", error_category="cancelled", attempted_at=now),
            make_result(WH, "c", "retrying", error_category="circuit_open", attempted_at=now),
        ]
    )
    assert sorted((k[1], k[3], k[4], v[1]) for k, v in rollup.items()) == [
        (60, "category", "http_5xx", 1),
        (60, "status", "500", 1),
        (3600, "category", "http_5xx", 1),
        (3600, "status", "500", 1),
    ]
    assert breakdown([("status", "500", 2), ("status", "404", 2), ("category", "timeout", 1)]) == {
        "status_codes": [{"status_code": 404, "count": 2}, {"status_code": 500, "count": 2}],
        "error_categories": [{"error_category": "timeout", "count": 1}],
    }
