"""Webhook CRUD through the API: fields, defaults, sanitising, validation errors, secrets, verify."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from capi_harness import ApiHarness

from webhook_core.signing import sign

pytestmark = pytest.mark.integration

BASE = "/admin/integration/surveymonkey/webhooks"


def _loc(resp: Any) -> list[Any]:
    detail = resp.json()["errors"]
    assert isinstance(detail, list) and detail, resp.text
    return [tuple(d["loc"]) for d in detail]


async def test_create_get_list_update_patch_delete(api: ApiHarness) -> None:
    created = await api.create_webhook(
        name="CRM",
        subscription_url="\thttps://HOOKS.Example.com/path with space\r\n",
        event_types=["response_completed", "survey_created"],
        object_types=["survey"],
        object_ids=["405", "405", "406"],
        auth={"type": "bearer", "token": "super-secret-token-abcd"},
        filter={"data.status": {"$in": ["completed"]}},
    )
    wid = created["id"]
    assert created["subscription_url"] == "https://hooks.example.com/pathwithspace"
    assert created["auth"] == {"type": "bearer", "token_hint": "****abcd"}
    assert "super-secret" not in json.dumps(created)
    assert created["object_ids"] == ["405", "406"]
    assert created["retry_policy"] == {
        "max_attempts": 8,
        "initial_delay_ms": 5000,
        "multiplier": 5.0,
        "max_delay_ms": 36000000,
        "jitter": 0.2,
    }
    assert (created["timeout_ms"], created["max_in_flight"], created["priority"], created["active"]) == (
        15000,
        10,
        "normal",
        True,
    )
    assert created["version"] == 1

    # a second webhook to the same URL is allowed
    second = await api.create_webhook(
        subscription_url="https://hooks.example.com/pathwithspace", active=False
    )
    third = await api.create_webhook(event_types=["survey_created"])

    listed = (await api.client.get(BASE)).json()
    assert [w["id"] for w in listed["items"]] == [wid, second["id"], third["id"]]
    assert listed["total"] == 3 and listed["next_cursor"] is None
    assert all("signing_secret" not in w for w in listed["items"])
    page1 = (await api.client.get(BASE, params={"limit": 2})).json()
    assert len(page1["items"]) == 2 and page1["next_cursor"] == second["id"]
    page2 = (await api.client.get(BASE, params={"limit": 2, "cursor": page1["next_cursor"]})).json()
    assert [w["id"] for w in page2["items"]] == [third["id"]] and page2["next_cursor"] is None
    inactive = (await api.client.get(BASE, params={"active": "false"})).json()
    assert [w["id"] for w in inactive["items"]] == [second["id"]]
    by_event = (await api.client.get(BASE, params={"event_type": "survey_created"})).json()
    assert {w["id"] for w in by_event["items"]} == {wid, third["id"]}

    # PUT replaces everything; an omitted auth keeps the stored credentials
    put = await api.client.put(
        f"{BASE}/{wid}",
        json={"subscription_url": "https://hooks.example.com/v2", "event_types": ["*"], "timeout_ms": 5000},
    )
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["event_types"] == ["*"] and body["object_types"] is None and body["timeout_ms"] == 5000
    assert body["auth"]["type"] == "bearer" and body["version"] == 2
    assert body["name"] == "CRM"

    # PATCH changes only what is given; null clears optional fields; active false records a reason
    patch = await api.client.patch(
        f"{BASE}/{wid}", json={"priority": "high", "active": False, "auth": {"type": "none"}, "filter": None}
    )
    assert patch.status_code == 200, patch.text
    body = patch.json()
    assert body["priority"] == "high" and body["active"] is False and body["deactivated_reason"]
    assert body["auth"] == {"type": "none"} and body["timeout_ms"] == 5000 and body["version"] == 3
    reactivated = (await api.client.patch(f"{BASE}/{wid}", json={"active": True})).json()
    assert reactivated["active"] is True and reactivated["deactivated_reason"] is None

    null_name = await api.client.patch(f"{BASE}/{wid}", json={"timeout_ms": None})
    assert null_name.status_code == 422 and _loc(null_name) == [("body", "timeout_ms")]

    assert (await api.client.delete(f"{BASE}/{wid}")).status_code == 204
    assert (await api.client.get(f"{BASE}/{wid}")).status_code == 404
    assert (await api.client.delete(f"{BASE}/{wid}")).status_code == 404


BAD_INPUTS: list[tuple[dict[str, Any], tuple[Any, ...], str]] = [
    (
        {"subscription_url": "https://hooks.example.com/a", "event_types": ["nope"]},
        ("body", "event_types", 0),
        "nope",
    ),
    (
        {"subscription_url": "https://hooks.example.com/a", "event_types": []},
        ("body", "event_types"),
        "at least 1",
    ),
    ({"subscription_url": "https://hooks.example.com/a"}, ("body", "event_types"), "required"),
    (
        {"subscription_url": "https://hooks.example.com/a", "event_types": ["*"], "colour": "red"},
        ("body", "colour"),
        "not permitted",
    ),
    (
        {"subscription_url": "ftp://hooks.example.com/a", "event_types": ["*"]},
        ("body", "subscription_url"),
        "scheme",
    ),
    (
        {"subscription_url": "https://u:p@hooks.example.com/a", "event_types": ["*"]},
        ("body", "subscription_url"),
        "credentials",
    ),
    (
        {"subscription_url": "hooks.example.com/a", "event_types": ["*"]},
        ("body", "subscription_url"),
        "absolute",
    ),
    (
        {"subscription_url": "https://nowhere.invalid/a", "event_types": ["*"]},
        ("body", "subscription_url"),
        "does not resolve",
    ),
    (
        {"subscription_url": "https://hooks.example.com/" + "a" * 2100, "event_types": ["*"]},
        ("body", "subscription_url"),
        "2048",
    ),
    (
        {
            "subscription_url": "https://hooks.example.com/a",
            "event_types": ["*"],
            "filter": {"data.x": {"$regex": "a"}},
        },
        ("body", "filter"),
        "$regex",
    ),
    (
        {
            "subscription_url": "https://hooks.example.com/a",
            "event_types": ["*"],
            "criteria": "Patient?name=x",
        },
        ("body", "criteria"),
        "FHIR",
    ),
    (
        {
            "subscription_url": "https://hooks.example.com/a",
            "event_types": ["*"],
            "object_types": ["Patient"],
        },
        ("body", "object_types", 0),
        "Patient",
    ),
    (
        {
            "subscription_url": "https://hooks.example.com/a",
            "event_types": ["*"],
            "retry_policy": {"max_attempts": 26},
        },
        ("body", "retry_policy", "max_attempts"),
        "25",
    ),
    (
        {
            "subscription_url": "https://hooks.example.com/a",
            "event_types": ["*"],
            "retry_policy": {"jitter": 2},
        },
        ("body", "retry_policy", "jitter"),
        "1",
    ),
    (
        {"subscription_url": "https://hooks.example.com/a", "event_types": ["*"], "timeout_ms": 50},
        ("body", "timeout_ms"),
        "100",
    ),
    (
        {"subscription_url": "https://hooks.example.com/a", "event_types": ["*"], "timeout_ms": 30001},
        ("body", "timeout_ms"),
        "30000",
    ),
    (
        {"subscription_url": "https://hooks.example.com/a", "event_types": ["*"], "priority": "urgent"},
        ("body", "priority"),
        "normal",
    ),
    (
        {
            "subscription_url": "https://hooks.example.com/a",
            "event_types": ["*"],
            "auth": {"type": "basic", "username": "u"},
        },
        ("body", "auth", "basic", "password"),
        "required",
    ),
    (
        {
            "subscription_url": "https://hooks.example.com/a",
            "event_types": ["*"],
            "auth": {"type": "header", "name": "webhook-signature", "value": "x"},
        },
        ("body", "auth", "name"),
        "reserved",
    ),
    ({"subscription_url": 5, "event_types": ["*"]}, ("body", "subscription_url"), "string"),
]


async def test_bad_webhook_input_is_422_naming_the_field(api: ApiHarness) -> None:
    # one app for the whole table: starting one per case would cost a database and topics each
    for body, loc, needle in BAD_INPUTS:
        resp = await api.client.post(BASE, json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert loc in _loc(resp), (body, resp.text)
        assert needle in resp.text, (body, resp.text)
        assert "input" not in resp.json()["errors"][0]
    assert (await api.client.get(BASE)).json()["total"] == 0  # nothing was created


async def test_fhir_wildcards_criteria_and_malformed_bodies(api: ApiHarness) -> None:
    ok = await api.create_webhook(
        "ehr",
        event_types=["Appointment.*", "Patient.create"],
        criteria="Appointment?status=booked",
        object_types=["Appointment"],
    )
    assert ok["criteria"] == "Appointment?status=booked"
    bad = await api.client.post(
        "/admin/integration/ehr/webhooks",
        json={
            "subscription_url": "https://hooks.example.com/a",
            "event_types": ["Appointment.*"],
            "criteria": "Appointment?bogus=1",
        },
    )
    assert bad.status_code == 422 and _loc(bad) == [("body", "criteria")] and "bogus" in bad.text
    wrong = await api.client.post(
        "/admin/integration/ehr/webhooks",
        json={"subscription_url": "https://hooks.example.com/a", "event_types": ["Nope.*"]},
    )
    assert wrong.status_code == 422 and _loc(wrong) == [("body", "event_types", 0)]

    malformed = await api.client.post(
        BASE, content=b'{"event_types": [', headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 422 and "json" in malformed.text.lower()
    assert _loc(malformed)[0][0] == "body"
    huge = await api.client.post(
        BASE, content=b"x" * (300 * 1024), headers={"content-type": "application/json"}
    )
    assert huge.status_code == 413 and "256 KB" in huge.json()["errors"][0]["msg"]
    not_object = await api.client.post(BASE, json=[1, 2])
    assert not_object.status_code == 422

    # unknown integration, unknown webhook, webhook of another integration: 404
    assert (await api.client.get("/admin/integration/nope/webhooks")).status_code == 404
    assert (await api.client.get(f"{BASE}/wh_missing")).status_code == 404
    other = await api.client.get(f"{BASE}/{ok['id']}")
    assert other.status_code == 404
    assert (await api.client.patch(f"{BASE}/{ok['id']}", json={"active": False})).status_code == 404
    assert (await api.client.delete(f"{BASE}/{ok['id']}")).status_code == 404


async def test_secret_read_and_rotation_with_grace(api: ApiHarness) -> None:
    created = await api.create_webhook()
    wid, first = created["id"], created["signing_secret"]
    got = (await api.client.get(f"{BASE}/{wid}/secret")).json()
    assert got["secret"] == first and len(got["secrets"]) == 1

    rotated = await api.client.post(f"{BASE}/{wid}/secret/rotate", json={"grace_period_s": 3600})
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["secret"] != first and body["secret"].startswith("whsec_")
    assert [s["secret"] for s in body["secrets"]] == [body["secret"], first]
    assert body["secrets"][0]["expires_at"] is None and body["secrets"][1]["expires_at"] is not None

    again = (await api.client.post(f"{BASE}/{wid}/secret/rotate", json={"grace_period_s": 0})).json()
    assert [s["secret"] for s in again["secrets"]] == [again["secret"]]  # grace 0: old ones expire now
    bad = await api.client.post(f"{BASE}/{wid}/secret/rotate", json={"grace_period_s": -1})
    assert bad.status_code == 422 and _loc(bad) == [("body", "grace_period_s")]
    webhook = (await api.client.get(f"{BASE}/{wid}")).json()
    assert webhook["version"] == 3


async def test_verify_sends_a_signed_delivery_and_refuses_on_failure(api: ApiHarness) -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    status = {"code": 204}

    async def handler(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(status=status["code"])

    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/hook"
    try:
        resp = await api.client.post(
            BASE + "?verify=true",
            json={
                "subscription_url": url,
                "event_types": ["*"],
                "auth": {"type": "header", "name": "x-key", "value": "k-1234"},
            },
        )
        assert resp.status_code == 201, resp.text
        headers, body = received[-1]
        secret = resp.json()["signing_secret"]
        expected = sign(secret, headers["webhook-id"], int(headers["webhook-timestamp"]), body)
        assert headers["webhook-signature"] == expected
        assert headers["x-key"] == "k-1234"

        status["code"] = 500
        refused = await api.client.patch(
            f"{BASE}/{resp.json()['id']}?verify=true", json={"subscription_url": url + "?v=2"}
        )
        assert refused.status_code == 422 and _loc(refused) == [("query", "verify")] and "500" in refused.text
        unchanged = (await api.client.get(f"{BASE}/{resp.json()['id']}")).json()
        assert unchanged["subscription_url"] == url and unchanged["version"] == 1
    finally:
        await runner.cleanup()
