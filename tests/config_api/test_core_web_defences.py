"""Web-facing defences and credential hygiene through the real API (issue 15 items 12 and 13)."""

from __future__ import annotations

import httpx
import pytest
from capi_harness import ApiHarness, make_settings, start_harness

from config_api.webhooks.rules import credentials_must_drop
from contracts.topics import Topics
from webhook_core.signing import secret_bytes

pytestmark = pytest.mark.integration

HOOKS = "/admin/integration/surveymonkey/webhooks"
BASIC = {"type": "basic", "username": "clinic-integration-user", "password": "pa55word-long-enough"}


async def test_security_headers_on_ui_api_and_docs(api: ApiHarness) -> None:
    for path in ("/admin/ui/", "/admin/integrations", "/healthz", "/docs", "/admin/nope"):
        resp = await api.client.get(path)
        assert resp.headers["x-content-type-options"] == "nosniff", path
        assert resp.headers["x-frame-options"] == "DENY", path
        assert resp.headers["referrer-policy"] == "no-referrer", path
        assert "frame-ancestors 'none'" in resp.headers["content-security-policy"], path
    ui = (await api.client.get("/admin/ui/")).headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in ui and "'unsafe-inline'" not in ui
    assert (
        (await api.client.get("/admin/integrations"))
        .headers["content-security-policy"]
        .startswith("default-src 'none'")
    )
    unauthenticated = await api.as_token(None).get("/admin/integrations")
    assert (
        unauthenticated.status_code == 401 and unauthenticated.headers["x-content-type-options"] == "nosniff"
    )


async def test_failed_authentication_is_throttled_per_client(
    database_url: str, service_env: dict[str, str], topics: Topics
) -> None:
    del topics
    settings = make_settings(database_url, service_env, auth_max_failures=3, auth_block_s=30)
    async with start_harness(settings) as api:
        guesser = api.as_token("chk_guess")
        statuses = [(await guesser.get("/admin/integrations")).status_code for _ in range(4)]
        assert statuses == [401, 401, 429, 429]
        blocked = await guesser.get("/admin/integrations")
        assert 1 <= int(blocked.headers["retry-after"]) <= 30
        assert blocked.json()["errors"][0]["type"] == "too_many_failures"
        # while blocked, even the right token from that client waits (the guesser could have found it)
        assert (await api.client.get("/admin/integrations")).status_code == 429
        # another client is not affected
        other = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api.app, client=("10.9.9.9", 1234)),
            base_url="http://api",
            headers=api.client.headers,
        )
        assert (await other.get("/admin/integrations")).status_code == 200


async def test_viewers_see_a_masked_basic_auth_username(api: ApiHarness) -> None:
    wh = await api.create_webhook(auth=BASIC)
    assert wh["auth"]["username"] == "clinic-integration-user"  # the admin sees it
    viewer = api.as_token(await api.make_token("viewer"))
    operator = api.as_token(await api.make_token("operator"))
    shown = (await viewer.get(f"{HOOKS}/{wh['id']}")).json()["auth"]
    assert shown["username"] == "****user" and "pa55" not in str(shown)
    listed = (await viewer.get(HOOKS)).json()["items"][0]["auth"]
    assert listed["username"] == "****user"
    assert (await operator.get(f"{HOOKS}/{wh['id']}")).json()["auth"]["username"] == "clinic-integration-user"
    audit = (await viewer.get("/admin/audit", params={"webhook_id": wh["id"]})).json()["items"]
    assert audit and "clinic-integration-user" not in str(audit)
    assert audit[-1]["after"]["auth"]["username"] == "****user"


@pytest.mark.parametrize("method", ["patch", "put"])
async def test_credentials_do_not_follow_a_url_to_another_origin(api: ApiHarness, method: str) -> None:
    api.dns.names["other.example.net"] = ["93.184.216.35"]
    wh = await api.create_webhook(auth=BASIC)
    url = f"{HOOKS}/{wh['id']}"
    send = api.client.patch if method == "patch" else api.client.put
    base = {"event_types": ["response_completed"]} if method == "put" else {}

    # same origin, other path: credentials kept
    same = await send(url, json={**base, "subscription_url": "https://hooks.example.com/other"})
    assert same.status_code == 200 and same.json()["auth"]["type"] == "basic"
    # other origin without auth: dropped, and the audit says so
    moved = await send(url, json={**base, "subscription_url": "https://other.example.net/a"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["auth"] == {"type": "none"}
    record = (await api.client.get("/admin/audit", params={"webhook_id": wh["id"]})).json()["items"][0]
    assert record["details"]["auth_dropped"] is True and "origin" in record["details"]["reason"]
    assert record["before"]["auth"]["type"] == "basic" and record["after"]["auth"]["type"] == "none"
    # other origin with new credentials in the same request: the new ones are stored
    bearer = {"type": "bearer", "token": "new-token-for-the-new-origin"}
    back = await send(
        url, json={**base, "subscription_url": "https://hooks.example.com:8443/a", "auth": bearer}
    )
    assert back.status_code == 200 and back.json()["auth"]["type"] == "bearer"
    # a port change is an origin change too
    port = await send(url, json={**base, "subscription_url": "https://hooks.example.com/a"})
    assert port.json()["auth"] == {"type": "none"}


async def test_decoded_signing_keys_are_dropped_after_delete(api: ApiHarness) -> None:
    wh = await api.create_webhook(subscription_url="https://hooks.example.com/a")
    await api.client.post(f"{HOOKS}/test", json={"webhook_id": wh["id"]})  # signs: memoises the key
    assert secret_bytes.cache_info().currsize > 0
    assert (await api.client.delete(f"{HOOKS}/{wh['id']}")).status_code == 204
    assert secret_bytes.cache_info().currsize == 0


@pytest.mark.parametrize(
    ("old", "new", "drop"),
    [
        ("https://a.example/x", "https://a.example/y?q=1", False),
        ("https://a.example/x", "https://A.EXAMPLE:443/x", False),  # same origin, spelled otherwise
        ("https://a.example/x", "https://b.example/x", True),
        ("https://a.example/x", "https://a.example:8443/x", True),
        ("https://a.example/x", "http://a.example/x", True),
        ("http://a.example/x", "http://a.example:80/y", False),
        ("https://a.example/x", "https://sub.a.example/x", True),
        ("not a url", "https://a.example/x", True),
    ],
)
def test_credentials_must_drop(old: str, new: str, drop: bool) -> None:
    assert credentials_must_drop(old, new) is drop
