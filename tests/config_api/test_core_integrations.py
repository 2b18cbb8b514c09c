"""Integrations, catalogs, custom integrations and priority rules."""

from __future__ import annotations

import pytest
from capi_harness import ApiHarness

pytestmark = pytest.mark.integration


async def test_catalogs_custom_integrations_and_priority_rules(api: ApiHarness) -> None:
    sm_events = (await api.client.get("/admin/integration/surveymonkey/event-types")).json()["items"]
    names = {i["name"] for i in sm_events}
    assert {
        "response_completed",
        "collector_deleted",
        "survey_updated",
        "contact_list_contacts_removed",
    } <= names
    assert len([n for n in names if not n.startswith("contact")]) == 12
    assert all(i["description"] for i in sm_events)
    sm_objects = {
        i["name"]
        for i in (await api.client.get("/admin/integration/surveymonkey/object-types")).json()["items"]
    }
    assert sm_objects == {"survey", "collector", "response", "contact", "contact_list"}
    fhir_events = {
        i["name"] for i in (await api.client.get("/admin/integration/ehr/event-types")).json()["items"]
    }
    for resource in (
        "Patient",
        "CareTeam",
        "Appointment",
        "Schedule",
        "Slot",
        "PractitionerRole",
        "CarePlan",
        "Task",
        "DiagnosticReport",
        "Observation",
        "Encounter",
        "Condition",
    ):
        assert {f"{resource}.create", f"{resource}.update", f"{resource}.delete"} <= fhir_events
    assert (await api.client.get("/admin/integration/nope/event-types")).status_code == 404

    custom = await api.client.post(
        "/admin/integrations",
        json={
            "id": "billing",
            "type": "custom",
            "name": "Billing",
            "event_types": [{"name": "invoice.paid", "description": "Paid."}, "invoice.voided"],
            "object_types": ["invoice"],
        },
    )
    assert custom.status_code == 201, custom.text
    assert custom.json()["webhook_count"] == 0
    assert (
        await api.client.post(
            "/admin/integrations", json={"id": "billing", "type": "custom", "name": "x", "event_types": ["a"]}
        )
    ).status_code == 409
    for body, loc in [
        ({"id": "Bad Id", "type": "custom", "name": "x", "event_types": ["a"]}, ["body", "id"]),
        ({"id": "x1", "type": "custom", "name": "x"}, ["body", "event_types"]),
        ({"id": "x2", "type": "fhir", "name": "x", "event_types": ["a"]}, ["body", "event_types"]),
        ({"id": "x3", "type": "custom", "name": "x", "event_types": ["a", "a"]}, ["body", "event_types", 1]),
        ({"id": "x4", "type": "other", "name": "x"}, ["body", "type"]),
    ]:
        resp = await api.client.post("/admin/integrations", json=body)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["errors"][0]["loc"] == loc, (body, resp.text)

    events = (await api.client.get("/admin/integration/billing/event-types")).json()["items"]
    assert events == [
        {"name": "invoice.paid", "description": "Paid."},
        {"name": "invoice.voided", "description": ""},
    ]
    await api.create_webhook("billing", event_types=["invoice.*"], object_types=["invoice"])
    bad = await api.client.post(
        "/admin/integration/billing/webhooks",
        json={"subscription_url": "https://hooks.example.com/a", "event_types": ["response_completed"]},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "event_types", 0]
    listed = {i["id"]: i for i in (await api.client.get("/admin/integrations")).json()["items"]}
    assert listed["billing"]["webhook_count"] == 1 and listed["billing"]["active_webhook_count"] == 1
    one = (await api.client.get("/admin/integration/billing")).json()
    assert one["type"] == "custom" and one["webhook_count"] == 1

    empty = (await api.client.get("/admin/integration/surveymonkey/priority-rules")).json()
    assert empty["contact_ids"] == [] and empty["updated_at"] is None
    put = await api.client.put(
        "/admin/integration/surveymonkey/priority-rules",
        json={
            "custom_field_rules": [{"field": "2", "equals": "VIP"}],
            "contact_ids": ["c1"],
            "event_types": ["contact_created"],
        },
    )
    assert put.status_code == 200, put.text
    got = (await api.client.get("/admin/integration/surveymonkey/priority-rules")).json()
    assert got["custom_field_rules"] == [{"field": "2", "equals": "VIP"}] and got["updated_at"]
    for body, loc in [
        ({"custom_field_rules": [{"field": "7", "equals": "x"}]}, ["body", "custom_field_rules", 0, "field"]),
        ({"event_types": ["nope"]}, ["body", "event_types", 0]),
        ({"colour": 1}, ["body", "colour"]),
    ]:
        resp = await api.client.put("/admin/integration/surveymonkey/priority-rules", json=body)
        assert resp.status_code == 422 and resp.json()["errors"][0]["loc"] == loc, resp.text
