"""Hostile or broken input through the real API (issue 15 items 5 and 7): free test URLs need the
admin role, ports are limited, no answer names a resolved address, and text PostgreSQL cannot store,
bad catalog names or un-encodable host names are 422s naming the field, never 500s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from capi_harness import ApiHarness, make_settings, start_harness

from contracts.topics import Topics

pytestmark = pytest.mark.integration

HOOKS = "/admin/integration/surveymonkey/webhooks"
TEST = "/admin/integration/surveymonkey/webhooks/test"
IDNA_BAD = "https://" + "ä" * 70 + ".example.com/h"


@pytest.fixture
async def receiver() -> AsyncIterator[str]:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="hello from the receiver")

    app = web.Application()
    app.add_routes([web.post("/h", ok)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/h"
    await runner.cleanup()


async def test_free_test_url_needs_the_admin_role(api: ApiHarness, receiver: str) -> None:
    wh = await api.create_webhook(subscription_url=receiver)
    operator = api.as_token(await api.make_token("operator"))
    body = {"subscription_url": receiver, "event_type": "response_completed"}
    refused = await operator.post(TEST, json=body)
    assert refused.status_code == 403, refused.text
    assert refused.json()["errors"][0]["loc"] == ["body", "subscription_url"]
    assert "admin" in refused.json()["errors"][0]["msg"]
    # the operator may still test the stored webhook
    stored = await operator.post(TEST, json={"webhook_id": wh["id"]})
    assert stored.status_code == 200 and stored.json()["success"] is True
    # an admin limited to this integration may test a free URL; one limited elsewhere does not see it
    scoped_admin = api.as_token(await api.make_token("admin", ["surveymonkey"]))
    assert (await scoped_admin.post(TEST, json=body)).json()["success"] is True
    other_admin = api.as_token(await api.make_token("admin", ["ehr"]))
    assert (await other_admin.post(TEST, json=body)).status_code == 404


async def test_no_answer_names_a_resolved_address(api: ApiHarness) -> None:
    api.dns.names["internal.example.com"] = ["10.0.0.5"]
    api.dns.names["meta.example.com"] = ["93.184.216.34", "169.254.169.254"]
    for host in ("internal.example.com", "meta.example.com"):
        created = await api.client.post(
            HOOKS, json={"subscription_url": f"https://{host}/h", "event_types": ["*"]}
        )
        assert created.status_code == 422 and created.json()["errors"][0]["type"] == "ssrf_blocked"
        assert "10.0.0.5" not in created.text and "169.254" not in created.text
        tested = await api.client.post(
            TEST, json={"subscription_url": f"https://{host}/h", "event_type": "response_completed"}
        )
        out = tested.json()
        assert (out["success"], out["error_category"]) == (False, "ssrf_blocked")
        assert "10.0.0.5" not in tested.text and "169.254" not in tested.text


async def test_allowed_ports_at_create_update_and_test(
    database_url: str, service_env: dict[str, str], topics: Topics
) -> None:
    del topics
    settings = make_settings(database_url, service_env, webhook_allowed_ports="443,8443")
    assert settings.webhook_ports == frozenset({443, 8443})
    async with start_harness(settings) as api:
        for url in ("https://hooks.example.com:6379/h", "https://hooks.example.com:22/h"):
            resp = await api.client.post(HOOKS, json={"subscription_url": url, "event_types": ["*"]})
            assert resp.status_code == 422, resp.text
            detail = resp.json()["errors"][0]
            assert detail["type"] == "ssrf_blocked" and "WEBHOOK_ALLOWED_PORTS" in detail["msg"]
        ok = await api.create_webhook(subscription_url="https://hooks.example.com:8443/h")
        moved = await api.client.patch(
            f"{HOOKS}/{ok['id']}", json={"subscription_url": "https://hooks.example.com:25/h"}
        )
        assert moved.status_code == 422 and moved.json()["errors"][0]["type"] == "ssrf_blocked"
        tested = await api.client.post(
            TEST, json={"subscription_url": "http://127.0.0.1:9/h", "event_type": "response_completed"}
        )
        assert (tested.json()["success"], tested.json()["error_category"]) == (False, "ssrf_blocked")


def _field_error(resp: Any) -> dict[str, Any]:
    assert resp.status_code == 422, (resp.status_code, resp.text)
    detail: dict[str, Any] = resp.json()["errors"][0]
    return detail


async def test_unstorable_text_is_a_422_naming_the_field(api: ApiHarness) -> None:
    nul = await api.client.post(
        "/admin/integrations", json={"id": "x1", "type": "custom", "name": "a\x00b", "event_types": ["e1"]}
    )
    assert _field_error(nul)["loc"] == ["body", "name"]
    assert "NUL" in _field_error(nul)["msg"]
    surrogate = await api.client.post(
        "/admin/integrations",
        content=b'{"id": "x2", "type": "custom", "name": "bad \\ud800", "event_types": ["e1"]}',
        headers={"content-type": "application/json"},
    )
    assert _field_error(surrogate)["loc"] == ["body", "name"]
    deep = await api.client.post(
        "/admin/integrations",
        json={
            "id": "x3",
            "type": "custom",
            "name": "n",
            "event_types": [{"name": "e1", "description": "d\x00"}],
        },
    )
    assert _field_error(deep)["loc"] == ["body", "event_types", 0, "description"]
    wh = await api.create_webhook()
    patched = await api.client.patch(f"{HOOKS}/{wh['id']}", json={"name": "x\x00"})
    assert _field_error(patched)["loc"] == ["body", "name"]
    filtered = await api.client.patch(f"{HOOKS}/{wh['id']}", json={"filter": {"a\x00": 1}})
    assert _field_error(filtered)["loc"][:2] == ["body", "filter"]
    for path in ("/admin/integration/a%00b/webhooks", "/admin/integration/surveymonkey/webhooks/wh%00x"):
        resp = await api.client.get(path)
        assert resp.status_code in (404, 422), (path, resp.text)
        assert resp.json()["errors"][0]["loc"][0] == "path"
    query = await api.client.get(HOOKS, params={"cursor": "a\x00"})
    assert query.status_code in (404, 422), query.text
    # nothing was stored
    assert (await api.client.get("/admin/integration/x1")).status_code == 404


async def test_bad_catalog_names_are_a_422(api: ApiHarness) -> None:
    for entries, index in ((["ok", "no spaces"], 1), (["-dash"], 0), ([{"name": "bad name"}], 0)):
        resp = await api.client.post(
            "/admin/integrations", json={"id": "c1", "type": "custom", "name": "c", "event_types": entries}
        )
        detail = _field_error(resp)
        assert detail["loc"][:3] == ["body", "event_types", index], detail


async def test_host_labels_idna_cannot_encode_are_a_422(api: ApiHarness) -> None:
    created = await api.client.post(HOOKS, json={"subscription_url": IDNA_BAD, "event_types": ["*"]})
    assert _field_error(created)["loc"] == ["body", "subscription_url"]
    wh = await api.create_webhook()
    for method in (api.client.patch, api.client.put):
        resp = await method(f"{HOOKS}/{wh['id']}", json={"subscription_url": IDNA_BAD, "event_types": ["*"]})
        assert _field_error(resp)["loc"] == ["body", "subscription_url"]
    tested = await api.client.post(
        TEST, json={"subscription_url": IDNA_BAD, "event_type": "response_completed"}
    )
    assert _field_error(tested)["loc"] == ["body", "subscription_url"]
    for url in ("https://a..b.example.com/", "https://" + "a" * 64 + ".example.com/", "https://h\x01.com/"):
        resp = await api.client.post(HOOKS, json={"subscription_url": url, "event_types": ["*"]})
        assert _field_error(resp)["loc"] == ["body", "subscription_url"], url
