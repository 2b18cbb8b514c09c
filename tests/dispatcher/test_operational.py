"""webhooks.ops records become events of the built-in carehooks integration (no broker; see test_processor)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from dispatcher_helpers import sm_body, webhook
from test_processor import TOPICS, Harness

from contracts.catalogs import CAREHOOKS_EVENT_TYPES, CAREHOOKS_INTEGRATION
from contracts.events import (
    DeliveryDeadLetteredV1,
    InvalidEventV1,
    WebhookDeactivatedV1,
    WebhookHealthChangedV1,
)
from contracts.webhooks import WebhookConfigV1
from dispatcher.operational import OPS_KINDS

DEACTIVATED_AT = datetime(2024, 6, 1, 11, 59, tzinfo=UTC)


def ops_webhook(wid: str, **fields: Any) -> WebhookConfigV1:
    return webhook(wid, integration_id=CAREHOOKS_INTEGRATION, integration_type="custom", **fields)


def deactivated(webhook_id: str = "wh_gone", integration_id: str = "ehr") -> dict[str, object]:
    return json.loads(
        WebhookDeactivatedV1(
            webhook_id=webhook_id,
            integration_id=integration_id,
            reason="receiver answered 410 Gone",
            deactivated_at=DEACTIVATED_AT,
        ).to_bytes()
    )


def test_a_deactivation_record_reaches_the_operational_webhooks_subscribed_to_it() -> None:
    h = Harness()
    h.add(
        ops_webhook("ops-deactivated", event_types=["webhook.deactivated"]),
        ops_webhook("ops-all", event_types=["*"]),
        ops_webhook("ops-other", event_types=["delivery.dead_lettered"]),
        ops_webhook("ops-one-hook", event_types=["*"], object_ids=["wh_other"]),
        webhook("ehr-all"),  # an integration webhook never sees operational events
    )
    jobs = h.jobs(h.send(deactivated(), TOPICS.ops))
    assert sorted(j.webhook_id for j in jobs) == ["ops-all", "ops-deactivated"]
    body = json.loads(jobs[0].body)
    assert body["type"] == "webhook.deactivated"
    assert body["integration_id"] == CAREHOOKS_INTEGRATION
    assert (body["object_type"], body["object_id"]) == ("webhook", "wh_gone")
    assert body["data"] == {
        "webhook_id": "wh_gone",
        "integration_id": "ehr",
        "reason": "receiver answered 410 Gone",
        "deactivated_at": "2024-06-01T11:59:00Z",
    }
    assert body["timestamp"] == "2024-06-01T11:59:00Z"
    # A re-read record gives the same delivery ids (receivers de-duplicate on webhook-id).
    again = h.jobs(h.send(deactivated(), TOPICS.ops))
    assert {j.delivery_id for j in again} == {j.delivery_id for j in jobs}


def test_no_loop_records_about_operational_webhooks_yield_no_event() -> None:
    h = Harness()
    h.add(ops_webhook("ops-all", event_types=["*"]))
    out = h.send(deactivated("ops-all", integration_id=CAREHOOKS_INTEGRATION), TOPICS.ops)
    assert out == []
    assert h.jobs(h.send(deactivated("wh_x", integration_id="surveymonkey"), TOPICS.ops))  # others do


def test_the_integration_id_header_cannot_claim_the_ops_integration() -> None:
    h = Harness()
    h.add(ops_webhook("ops-all", event_types=["*"]))
    out = h.send(sm_body("response_completed"), TOPICS.surveymonkey_events, integration_id="carehooks")
    assert len(out) == 1 and not out[0].job_labels
    invalid = InvalidEventV1.model_validate_json(out[0].value or b"")
    assert "'carehooks' is reserved" in invalid.reason
    # And on the ops topic a header cannot move the event elsewhere.
    h.add(webhook("sm-all", integration_id="surveymonkey"))
    jobs = h.jobs(h.send(deactivated(), TOPICS.ops, integration_id="surveymonkey"))
    assert [j.webhook_id for j in jobs] == ["ops-all"]


def test_unknown_ops_types_are_skipped_and_broken_known_ones_are_invalid() -> None:
    h = Harness()
    h.add(ops_webhook("ops-all", event_types=["*"]))
    assert h.send({"type": "something_newer.v1", "x": 1}, TOPICS.ops) == []
    broken = {**deactivated(), "deactivated_at": "yesterday"}
    for doc, reason in [
        (broken, "webhook_deactivated.v1: deactivated_at"),
        ([1, 2], "expected a JSON object"),
        ({"webhook_id": "x"}, "type: missing"),
    ]:
        out = h.send(doc, TOPICS.ops)
        assert len(out) == 1, doc
        assert reason in InvalidEventV1.model_validate_json(out[0].value or b"").reason


def test_the_ops_kinds_produce_exactly_the_catalogued_event_types() -> None:
    produced = {
        kind.event_type(WebhookHealthChangedV1(**{**health_changed(), "state": state}))
        if kind.model is WebhookHealthChangedV1
        else kind.event_type(None)
        for kind in OPS_KINDS.values()
        for state in ("failing", "recovered")
    }
    assert produced == set(CAREHOOKS_EVENT_TYPES)


def health_changed(state: str = "failing", integration_id: str = "ehr") -> dict[str, Any]:
    return {
        "type": "webhook_health_changed.v1",
        "webhook_id": "wh_flaky",
        "integration_id": integration_id,
        "state": state,
        "consecutive_failures": 3 if state == "failing" else 0,
        "last_error": "HTTP 503" if state == "failing" else None,
        "last_status_code": 503 if state == "failing" else None,
        "changed_at": "2024-06-01T11:59:00Z",
    }


def test_health_changes_become_failing_and_recovered_events() -> None:
    h = Harness()
    h.add(ops_webhook("ops-health", event_types=["webhook.failing", "webhook.recovered"]))
    for state in ("failing", "recovered"):
        jobs = h.jobs(h.send(health_changed(state), TOPICS.ops))
        assert [j.webhook_id for j in jobs] == ["ops-health"]
        body = json.loads(jobs[0].body)
        assert (body["type"], body["object_id"]) == (f"webhook.{state}", "wh_flaky")
        assert body["data"]["state"] == state
    assert h.send(health_changed("failing", CAREHOOKS_INTEGRATION), TOPICS.ops) == []


def dead_lettered(integration_id: str = "surveymonkey") -> dict[str, object]:
    return json.loads(
        DeliveryDeadLetteredV1(
            delivery_id="msg_1",
            webhook_id="wh_1",
            integration_id=integration_id,
            event_id="e1",
            event_type="response_completed",
            attempts=3,
            reason="gave up after 3 attempts",
            final_error_category="http_5xx",
            final_status_code=503,
            dead_lettered_at=DEACTIVATED_AT,
        ).to_bytes()
    )


def test_a_dead_letter_record_becomes_a_delivery_event_except_for_operational_webhooks() -> None:
    h = Harness()
    h.add(ops_webhook("ops-dlq", event_types=["delivery.dead_lettered"]))
    jobs = h.jobs(h.send(dead_lettered(), TOPICS.ops))
    assert [j.webhook_id for j in jobs] == ["ops-dlq"]
    body = json.loads(jobs[0].body)
    assert (body["type"], body["object_type"], body["object_id"]) == (
        "delivery.dead_lettered",
        "delivery",
        "msg_1",
    )
    assert body["data"]["webhook_id"] == "wh_1" and body["data"]["final_status_code"] == 503
    assert h.send(dead_lettered(CAREHOOKS_INTEGRATION), TOPICS.ops) == []
