"""Repository functions the delivery side calls: deactivate_webhook and get_webhook_config."""

from __future__ import annotations

import asyncio

import pytest
from capi_harness import ApiHarness

from config_api.webhooks.outbox import pending_count
from config_api.webhooks.repository import deactivate_webhook, get_webhook_config
from webhook_core.secrets_crypto import SecretBox
from webhook_core.webhook_secrets import active_signing_secrets

pytestmark = pytest.mark.integration


async def test_deactivate_webhook_writes_row_outbox_and_audit_once(api: ApiHarness) -> None:
    created = await api.create_webhook()
    wid = created["id"]
    pool = api.app.state.pool
    async with pool.acquire() as conn:
        config = await get_webhook_config(conn, wid)
        assert config is not None and config.version == 1 and config.active
        assert active_signing_secrets(SecretBox(api.settings.secrets_key), config) == [
            created["signing_secret"]
        ]
        assert await get_webhook_config(conn, "wh_unknown") is None

        before = await conn.fetchval("SELECT count(*) FROM config_outbox")
        assert await deactivate_webhook(conn, wid, "10 consecutive dead letters", "auto-deactivation") is True
        assert await deactivate_webhook(conn, wid, "again", "auto-deactivation") is False
        assert await deactivate_webhook(conn, "wh_unknown", "x", "auto-deactivation") is False
        assert await conn.fetchval("SELECT count(*) FROM config_outbox") == before + 1
        config = await get_webhook_config(conn, wid)
        assert config is not None and config.version == 2 and not config.active
        assert config.deactivated_reason == "10 consecutive dead letters"

    audit = (await api.client.get("/admin/audit", params={"webhook_id": wid})).json()["items"]
    assert audit[0]["action"] == "webhook.deactivate" and audit[0]["actor"] == "auto-deactivation"
    assert audit[0]["before"]["active"] is True and audit[0]["after"]["active"] is False
    shown = (await api.client.get(f"/admin/integration/surveymonkey/webhooks/{wid}")).json()
    assert shown["active"] is False and shown["deactivated_reason"] == "10 consecutive dead letters"
    # re-activating is a PATCH with active: true
    again = (
        await api.client.patch(f"/admin/integration/surveymonkey/webhooks/{wid}", json={"active": True})
    ).json()
    assert again["active"] is True and again["deactivated_reason"] is None and again["version"] == 3
    for _ in range(50):
        if await pending_count(pool) == 0:
            break
        await asyncio.sleep(0.1)
    assert await pending_count(pool) == 0
