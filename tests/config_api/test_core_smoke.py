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
    health = (await api.client.get("/healthz")).json()
    assert health == {
        "status": "ok",
        "loops": ["delivery-maintenance", "delivery-recoveries", "delivery-results-ingest", "outbox-relay"],
    }
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] is True
    metrics = await api.client.get("/metrics")
    assert "carehooks_config_outbox_published_total" in metrics.text
    ui = await api.client.get("/admin/ui/")
    assert ui.status_code == 200
    spec = (await api.client.get("/openapi.json")).json()
    assert "/admin/integration/{integration_id}/webhooks/{webhook_id}" in spec["paths"]
    # Every error answer of every admin route is documented as an RFC 9457 problem.
    assert {"Problem", "FieldError"} <= set(spec["components"]["schemas"])
    for path, operations in spec["paths"].items():
        if not path.startswith("/admin") or path.startswith("/admin/ui"):
            continue
        for operation in operations.values():
            errors = {s: r for s, r in operation["responses"].items() if int(s) >= 400}
            assert {"401", "403", "422"} <= set(errors), (path, operation["responses"].keys())
            for response in errors.values():
                assert list(response["content"]) == ["application/problem+json"], path
    bad = await api.client.post("/admin/integration/surveymonkey/webhooks", json={"event_types": []})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    problem = bad.json()
    assert problem["status"] == 422 and problem["title"] and problem["type"] and problem["detail"]
    assert all(set(e) == {"loc", "msg", "type"} for e in problem["errors"]), problem
    unknown = await api.client.get("/admin/integration/surveymonkey/webhooks/wh_nope")
    assert unknown.status_code == 404 and unknown.json()["type"].endswith("/not-found")


async def test_webhook_roundtrip(api: ApiHarness) -> None:
    created = await api.create_webhook(subscription_url=" https://HOOKS.example.com/\ta b\n")
    assert created["subscription_url"] == "https://hooks.example.com/ab"
    assert created["signing_secret"].startswith("whsec_")
    got = await api.client.get(f"/admin/integration/surveymonkey/webhooks/{created['id']}")
    assert got.status_code == 200
    assert got.json()["retry_policy"]["max_attempts"] == 8
