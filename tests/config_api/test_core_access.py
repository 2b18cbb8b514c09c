"""Tokens, roles, integration scoping (401/403/404) and the audit log."""

from __future__ import annotations

import json

import pytest
from capi_harness import ApiHarness

pytestmark = pytest.mark.integration

BASE = "/admin/integration/surveymonkey/webhooks"


async def test_tokens_roles_and_scoping(api: ApiHarness) -> None:
    webhook = await api.create_webhook()
    wid = webhook["id"]

    async with api.as_token(None) as anon:
        missing = await anon.get("/admin/integrations")
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    async with api.as_token("chk_unknown") as unknown:
        assert (await unknown.get("/admin/integrations")).status_code == 401

    viewer_token = await api.make_token("viewer")
    operator_token = await api.make_token("operator")
    scoped_token = await api.make_token("admin", ["ehr"])
    listing = (await api.client.get("/admin/tokens")).json()["items"]
    assert {t["role"] for t in listing} == {"viewer", "operator", "admin"}
    assert all("token" not in t and "token_hash" not in t for t in listing)

    async with api.as_token(viewer_token) as viewer:
        assert (await viewer.get(f"{BASE}/{wid}")).status_code == 200
        assert (await viewer.get("/admin/integration/surveymonkey/event-types")).status_code == 200
        for method, path, body in [
            ("POST", BASE, {"subscription_url": "https://hooks.example.com/x", "event_types": ["*"]}),
            ("PATCH", f"{BASE}/{wid}", {"active": False}),
            ("DELETE", f"{BASE}/{wid}", None),
            ("GET", f"{BASE}/{wid}/secret", None),
            ("POST", "/admin/tokens", {"name": "x", "role": "admin"}),
            ("GET", "/admin/tokens", None),
            ("POST", "/admin/config/resync", None),
        ]:
            resp = await viewer.request(method, path, json=body)
            assert resp.status_code == 403, (method, path, resp.text)
            assert "admin role" in resp.json()["errors"][0]["msg"]
    async with api.as_token(operator_token) as operator:
        assert (await operator.patch(f"{BASE}/{wid}", json={"active": False})).status_code == 403
        assert (await operator.get(BASE)).status_code == 200

    async with api.as_token(scoped_token) as scoped:
        integrations = (await scoped.get("/admin/integrations")).json()["items"]
        assert [i["id"] for i in integrations] == ["ehr"]
        assert (await scoped.get(f"{BASE}/{wid}")).status_code == 404
        assert (await scoped.get(BASE)).status_code == 404
        assert (await scoped.get("/admin/integration/surveymonkey")).status_code == 404
        assert (await scoped.patch(f"{BASE}/{wid}", json={"active": False})).status_code == 404
        assert (
            await scoped.get("/admin/audit", params={"integration_id": "surveymonkey"})
        ).status_code == 404
        own = await scoped.post(
            "/admin/integration/ehr/webhooks",
            json={"subscription_url": "https://hooks.example.com/e", "event_types": ["Patient.*"]},
        )
        assert own.status_code == 201, own.text
        audit = (await scoped.get("/admin/audit")).json()["items"]
        assert audit and all(a["integration_id"] == "ehr" for a in audit)
        # a scoped admin may not mint tokens (it could widen its own scope) nor resync everything
        for method, path, body in [
            ("POST", "/admin/tokens", {"name": "wider", "role": "admin"}),
            ("GET", "/admin/tokens", None),
            ("POST", "/admin/config/resync", None),
            ("POST", "/admin/integrations", {"id": "x", "type": "custom", "name": "x", "event_types": ["a"]}),
        ]:
            resp = await scoped.request(method, path, json=body)
            assert resp.status_code == 403, (path, resp.text)

    bad_scope = await api.client.post(
        "/admin/tokens", json={"name": "x", "role": "viewer", "integration_ids": ["nope"]}
    )
    assert bad_scope.status_code == 422 and bad_scope.json()["errors"][0]["loc"] == [
        "body",
        "integration_ids",
        0,
    ]
    bad_role = await api.client.post("/admin/tokens", json={"name": "x", "role": "root"})
    assert bad_role.status_code == 422 and bad_role.json()["errors"][0]["loc"] == ["body", "role"]

    # revoking takes effect at once
    token_id = next(
        t["id"] for t in (await api.client.get("/admin/tokens")).json()["items"] if t["role"] == "viewer"
    )
    assert (await api.client.delete(f"/admin/tokens/{token_id}")).status_code == 204
    assert (await api.client.delete(f"/admin/tokens/{token_id}")).status_code == 404
    assert (await api.client.delete("/admin/tokens/not-a-uuid")).status_code == 404
    async with api.as_token(viewer_token) as viewer:
        assert (await viewer.get(BASE)).status_code == 401


async def test_every_change_is_audited_without_secrets(api: ApiHarness) -> None:
    created = await api.create_webhook(
        auth={"type": "basic", "username": "svc", "password": "hunter2-very-secret"}
    )
    wid = created["id"]
    await api.client.patch(
        f"{BASE}/{wid}", json={"auth": {"type": "bearer", "token": "tok-zzzz-9876"}, "name": "renamed"}
    )
    await api.client.post(f"{BASE}/{wid}/secret/rotate", json={})
    await api.client.get(f"{BASE}/{wid}/secret")
    await api.client.put(
        "/admin/integration/surveymonkey/priority-rules",
        json={"contact_ids": ["c1"], "event_types": ["contact_created"]},
    )
    await api.client.delete(f"{BASE}/{wid}")
    await api.make_token("viewer")

    items = (await api.client.get("/admin/audit", params={"webhook_id": wid})).json()["items"]
    actions = [i["action"] for i in items]
    assert actions == [
        "webhook.delete",
        "webhook.secret.read",
        "webhook.secret.rotate",
        "webhook.update",
        "webhook.create",
    ]
    assert all(i["actor"] == "bootstrap-admin" for i in items)
    update = items[3]
    assert update["before"]["name"] != update["after"]["name"] == "renamed"
    assert update["before"]["auth"] == {"type": "basic", "username": "svc", "password_hint": "****cret"}
    assert update["after"]["auth"] == {"type": "bearer", "token_hint": "****9876"}
    assert items[0]["before"]["id"] == wid and items[0]["after"] is None

    everything = json.dumps((await api.client.get("/admin/audit", params={"limit": 1000})).json())
    for secret in ("hunter2-very-secret", "tok-zzzz-9876", created["signing_secret"], "whsec_", "chk_"):
        assert secret not in everything
    by_integration = (
        await api.client.get("/admin/audit", params={"integration_id": "surveymonkey", "limit": 2})
    ).json()
    assert [i["action"] for i in by_integration["items"]] == ["webhook.delete", "priority_rules.update"]
    all_actions = {i["action"] for i in json.loads(everything)["items"]}
    assert "token.create" in all_actions
