"""What the admin form relies on: the description field, text search, the check endpoint, and the
examples the form shows (every one must be accepted by the server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from capi_harness import ApiHarness

pytestmark = pytest.mark.integration

EXAMPLES = json.loads(
    (Path(__file__).resolve().parents[2] / "services/config_api/config_api/ui/examples.json").read_text()
)
INTEGRATION_FOR_TYPE = {"surveymonkey": "surveymonkey", "fhir": "ehr", "custom": "billing"}
EVENT_FOR_TYPE = {
    "surveymonkey": "response_completed",
    "fhir": "Appointment.update",
    "custom": "invoice.paid",
}


async def _custom_integration(api: ApiHarness) -> None:
    resp = await api.client.post(
        "/admin/integrations",
        json={
            "id": "billing",
            "type": "custom",
            "name": "Billing",
            "event_types": [{"name": "invoice.paid", "description": "An invoice was paid."}],
            "object_types": ["invoice"],
        },
    )
    assert resp.status_code == 201, resp.text


def _body(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "subscription_url": "https://hooks.example.com/in",
        "event_types": [EVENT_FOR_TYPE[kind]],
        **fields,
    }


async def test_description_is_stored_audited_patched_and_searched(api: ApiHarness) -> None:
    base = "/admin/integration/surveymonkey/webhooks"
    first = await api.create_webhook(name="CRM feed", description="Owner: patient-experience team")
    other = await api.create_webhook(name="Analytics", description="Nightly warehouse load")
    assert first["description"] == "Owner: patient-experience team"
    default = await api.create_webhook(name="No description")
    assert default["description"] == ""

    found = (await api.client.get(base, params={"q": "PATIENT-experience"})).json()
    assert [w["id"] for w in found["items"]] == [first["id"]] and found["total"] == 1
    by_name = (await api.client.get(base, params={"q": "analytics"})).json()
    assert [w["id"] for w in by_name["items"]] == [other["id"]]
    # LIKE metacharacters are literal: "%" matches only a real percent sign.
    assert (await api.client.get(base, params={"q": "%"})).json()["total"] == 0

    patched = await api.client.patch(f"{base}/{first['id']}", json={"description": "Owner: CRM team"})
    assert patched.status_code == 200 and patched.json()["description"] == "Owner: CRM team"
    audit = (await api.client.get("/admin/audit", params={"integration_id": "surveymonkey"})).json()
    updates = [
        a for a in audit["items"] if a["action"] == "webhook.update" and a["webhook_id"] == first["id"]
    ]
    assert updates and updates[0]["before"]["description"] == "Owner: patient-experience team"
    assert updates[0]["after"]["description"] == "Owner: CRM team"

    too_long = await api.client.post(base, json=_body("surveymonkey", description="x" * 2001))
    assert too_long.status_code == 422 and "description" in too_long.text


async def test_check_validates_like_a_save_and_writes_nothing(api: ApiHarness) -> None:
    base = "/admin/integration/surveymonkey/webhooks"
    ok = await api.client.post(
        f"{base}/check", json=_body("surveymonkey", subscription_url=" https://HOOKS.example.com/in ")
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["subscription_url"] == "https://hooks.example.com/in"
    bad = await api.client.post(
        f"{base}/check", json=_body("surveymonkey", event_types=["no_such_event"], filter={"field": "status"})
    )
    assert bad.status_code == 422
    assert "no_such_event" in bad.text
    not_https = await api.client.post(
        f"{base}/check", json=_body("surveymonkey", subscription_url="ftp://x.example")
    )
    assert not_https.status_code == 422
    assert (await api.client.get(base)).json()["total"] == 0

    viewer = api.as_token(await api.make_token("viewer"))
    denied = await viewer.post(f"{base}/check", json=_body("surveymonkey"))
    assert denied.status_code == 403


async def test_every_example_the_form_shows_is_accepted(api: ApiHarness) -> None:
    await _custom_integration(api)
    checked = 0
    for kind, examples in EXAMPLES["filter"].items():
        base = f"/admin/integration/{INTEGRATION_FOR_TYPE[kind]}/webhooks"
        for example in examples:
            resp = await api.client.post(base, json=_body(kind, filter=example["value"]))
            assert resp.status_code == 201, (kind, example, resp.text)
            checked += 1
    for example in EXAMPLES["criteria"]["fhir"]:
        resp = await api.client.post(
            "/admin/integration/ehr/webhooks", json=_body("fhir", criteria=example["value"])
        )
        assert resp.status_code == 201, (example, resp.text)
        checked += 1
    assert checked >= 10


async def test_the_old_filter_hint_is_rejected_so_it_must_not_come_back(api: ApiHarness) -> None:
    # The form used to suggest {"field": "status", "eq": "completed"}; the server refuses it.
    resp = await api.client.post(
        "/admin/integration/surveymonkey/webhooks",
        json=_body("surveymonkey", filter={"field": "status", "eq": "completed"}),
    )
    assert resp.status_code == 422
    shown = json.dumps(EXAMPLES)
    assert '"field": "status"' not in shown
