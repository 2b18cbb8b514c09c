"""/asyncapi and /asyncapi.yaml from the running config API; the filter operand cap answers 422."""

from __future__ import annotations

import re

import yaml
from capi_harness import ApiHarness

from contracts.asyncapi import asyncapi_document
from webhook_core.filters import MAX_OPERANDS


async def test_asyncapi_yaml_is_the_document_for_this_deployments_topics(api: ApiHarness) -> None:
    resp = await api.client.get("/asyncapi.yaml")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/yaml")
    doc = yaml.safe_load(resp.text)
    expected = asyncapi_document(api.app.state.settings.topics)
    assert doc == expected
    assert doc["channels"]["fhirEvents"]["address"] == api.app.state.settings.topics.fhir_events


async def test_asyncapi_page_is_readable_html_without_external_assets(api: ApiHarness) -> None:
    resp = await api.client.get("/asyncapi")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    page = resp.text
    topics = api.app.state.settings.topics
    for address in (
        topics.fhir_events,
        topics.surveymonkey_events,
        topics.deliveries_dlq,
        topics.invalid_events,
    ):
        assert f"<code>{address}</code>" in page
    for header in ("integration-id", "fhir-interaction", "traceparent"):
        assert f"<code>{header}</code>" in page
    assert 'id="schema-DeliveryJobV1"' in page and 'href="#schema-DeliveryJobV1"' in page
    assert "<script" not in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page), "no external asset"


async def test_a_filter_over_the_operand_cap_is_a_clear_422(api: ApiHarness) -> None:
    per_list = 1000
    lists = MAX_OPERANDS // per_list + 1
    flt = {f"data.f{i}": {"$in": list(range(per_list))} for i in range(lists)}
    body = {"subscription_url": "https://hooks.example.com/a", "event_types": ["*"], "filter": flt}
    resp = await api.client.post("/admin/integration/surveymonkey/webhooks", json=body)
    assert resp.status_code == 422, resp.text
    assert f"more than {MAX_OPERANDS} operand values" in resp.text
