"""Start-up, migrations, seeded integrations, health endpoints."""

from __future__ import annotations

import pytest
from capi_harness import ApiHarness

pytestmark = pytest.mark.integration


async def test_startup_seeds_integrations_and_serves_health(api: ApiHarness) -> None:
    resp = await api.client.get("/admin/integrations")
    assert resp.status_code == 200, resp.text
    ids = {i["id"]: i for i in resp.json()["items"]}
    assert ids["surveymonkey"]["type"] == "surveymonkey"
    assert ids["ehr"]["type"] == "fhir"
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] is True
    metrics = await api.client.get("/metrics")
    assert "carehooks_config_outbox_published_total" in metrics.text
    ui = await api.client.get("/admin/ui/")
    assert ui.status_code == 200
    spec = (await api.client.get("/openapi.json")).json()
    assert "/admin/integration/{integration_id}/webhooks/{webhook_id}" in spec["paths"]


async def test_webhook_roundtrip(api: ApiHarness) -> None:
    created = await api.create_webhook(subscription_url=" https://HOOKS.example.com/\ta b\n")
    assert created["subscription_url"] == "https://hooks.example.com/ab"
    assert created["signing_secret"].startswith("whsec_")
    got = await api.client.get(f"/admin/integration/surveymonkey/webhooks/{created['id']}")
    assert got.status_code == 200
    assert got.json()["retry_policy"]["max_attempts"] == 8
