"""EventProcessor end to end without a broker: matching rules, priority, enrichment, jobs, invalid input."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from dispatcher_helpers import sample, sm_body, webhook

from contracts.base import utcnow
from contracts.deliveries import DeliveryJobV1
from contracts.events import InvalidEventV1, PatientIndexEntryV1
from contracts.topics import Topics
from contracts.webhooks import ContactRule, PriorityRulesV1, WebhookConfigV1, priority_rules_key
from dispatcher.handlers import EventProcessor, InputRecord, Outgoing, ProcessingLimits
from dispatcher.jobs import delivery_id
from dispatcher.matching import WebhookIndex
from dispatcher.metrics import DispatcherMetrics
from dispatcher.patient_index import PatientIndex
from service_kit.config_view import WebhookView
from webhook_core.payload_crypto import Payloads
from webhook_core.secrets_crypto import SecretBox

TOPICS = Topics()
PLAIN = Payloads(SecretBox(bytes(32)), encrypt=False)
NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)


class Harness:
    def __init__(self, limits: ProcessingLimits | None = None) -> None:
        self.view = WebhookView()
        self.index = WebhookIndex()
        self.view.subscribe(self.index.on_change)
        self.patients = PatientIndex()
        self.metrics = DispatcherMetrics()
        self.processor = EventProcessor(
            TOPICS, self.view, self.index, self.patients, self.metrics, "US", PLAIN, lambda: NOW, limits
        )
        self.offset = 0

    def add(self, *hooks: WebhookConfigV1) -> None:
        for hook in hooks:
            self.view.apply(hook.id, hook.to_bytes())

    def send(self, doc: Any, topic: str = TOPICS.fhir_events, **headers: str) -> list[Outgoing]:
        self.offset += 1
        value = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        record = InputRecord(
            topic,
            0,
            self.offset,
            b"k",
            value,
            [(k.replace("_", "-"), v.encode()) for k, v in headers.items()],
            1_717_243_200_000,
        )
        return self.processor.process(record)

    def jobs(self, out: list[Outgoing]) -> list[DeliveryJobV1]:
        return [DeliveryJobV1.model_validate_json(o.value or b"") for o in out if o.job_labels]

    def matched(self, doc: Any, topic: str = TOPICS.fhir_events, **headers: str) -> list[str]:
        return sorted(j.webhook_id for j in self.jobs(self.send(doc, topic, **headers)))

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


def test_event_type_patterns_and_integration() -> None:
    h = Harness()
    h.add(
        webhook("exact", event_types=["Appointment.update"]),
        webhook("resource", event_types=["Appointment.*"]),
        webhook("all", event_types=["*"]),
        webhook("other-type", event_types=["Task.*", "Appointment.create"]),
        webhook("other-integration", integration_id="ehr2"),
        webhook("inactive", active=False),
    )
    assert h.matched(sample("fhir/appointment.json")) == ["all", "exact", "resource"]
    assert h.matched(sample("fhir/appointment.json"), fhir_interaction="create") == [
        "all",
        "other-type",
        "resource",
    ]
    assert h.matched(sample("fhir/appointment.json"), integration_id="ehr2") == ["other-integration"]


def test_deleted_and_deactivated_webhooks_stop_matching() -> None:
    h = Harness()
    h.add(webhook("a"), webhook("b"), webhook("c"))
    h.view.apply("a", None)
    h.add(webhook("b", active=False, version=2))
    h.add(webhook("c", event_types=["Task.*"], version=2))
    assert h.matched(sample("fhir/appointment.json")) == []
    h.add(webhook("b", active=True, version=3))
    assert h.matched(sample("fhir/appointment.json")) == ["b"]
    assert h.metric("carehooks_webhooks_indexed") == 0  # the gauge is the app's job; the index itself:
    assert len(h.index) == 2


def test_surveymonkey_object_scopes() -> None:
    h = Harness()
    sm = "surveymonkey"
    h.add(
        webhook("survey-123", sm, object_types=["survey"], object_ids=["123456789"]),
        webhook("survey-other", sm, object_types=["survey"], object_ids=["999"]),
        webhook("collector", sm, object_types=["collector"], object_ids=["987654321"]),
        webhook("responses-only", sm, object_types=["response"]),
        webhook("surveys-only", sm, object_types=["survey"], event_types=["survey_updated"]),
        webhook("response-id", sm, object_ids=["123456"]),
    )
    response = sample("surveymonkey/response_completed.json")
    assert h.matched(response, TOPICS.surveymonkey_events) == [
        "collector",
        "response-id",
        "responses-only",
        "survey-123",
    ]
    survey = sm_body(
        "survey_updated",
        object_type="survey",
        object_id="123456789",
        filter_id="123456789",
        resources={"survey_id": "123456789"},
    )
    assert h.matched(survey, TOPICS.surveymonkey_events) == ["survey-123", "surveys-only"]


def test_fhir_object_ids_accept_both_forms() -> None:
    h = Harness()
    h.add(
        webhook("bare", object_ids=["example"]),
        webhook("typed", object_ids=["Appointment/example"]),
        webhook("no", object_ids=["Task/example", "zzz"]),
    )
    assert h.matched(sample("fhir/appointment.json")) == ["bare", "typed"]


def test_filter_criteria_and_filter_errors() -> None:
    h = Harness()
    h.add(
        webhook(
            "booked",
            filter={
                "data.status": {"$in": ["booked", "arrived"]},
                "data.participant.actor.reference": {"$prefix": "Practitioner/"},
            },
        ),
        webhook("cancelled", filter={"data.status": "cancelled"}),
        webhook("crit", criteria="Appointment?status=booked&practitioner=123"),
        webhook("crit-no", criteria="Appointment?practitioner=999"),
        webhook("crit-task", criteria="Task?owner=Practitioner/123&status=requested"),
        webhook("broken", filter={"data.status": {"$gt": 3}}),
    )
    assert h.matched(sample("fhir/appointment.json")) == ["booked", "crit"]
    assert h.metric("carehooks_filter_errors_total") == 1
    assert h.matched(sample("fhir/notification_bundle_r5.json")) == ["crit-task"]


def test_job_contents_and_deterministic_ids() -> None:
    h = Harness()
    h.add(webhook("w1"))
    out = h.send(sample("fhir/appointment.json"))
    (job,) = h.jobs(out)
    assert out[0].topic == TOPICS.deliveries and out[0].key == b"w1"
    assert job.delivery_id == delivery_id("Appointment/example/_history/2:update", "w1")
    assert job.delivery_id.startswith("msg_")
    assert (job.event_type, job.object_type, job.object_id, job.attempt, job.priority) == (
        "Appointment.update",
        "Appointment",
        "example",
        1,
        "normal",
    )
    assert job.event_time == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert job.dispatched_at == NOW
    assert job.published_at == datetime.fromtimestamp(1_717_243_200, UTC)
    body = json.loads(job.body)
    assert list(body) == [
        "type",
        "timestamp",
        "data",
        "integration_id",
        "event_id",
        "object_type",
        "object_id",
    ]
    assert body["timestamp"] == "2024-05-01T10:00:00Z"
    assert body["data"] == sample("fhir/appointment.json")
    (again,) = h.jobs(h.send(sample("fhir/appointment.json")))
    assert again.delivery_id == job.delivery_id
    assert (
        h.metric("carehooks_delivery_jobs_emitted_total", integration="ehr", priority="normal") == 0
    )  # counted after the ack
    assert h.metric("carehooks_events_consumed_total", integration="ehr", outcome="matched") == 2


def test_invalid_inputs_go_to_the_invalid_topic() -> None:
    h = Harness()
    h.add(webhook("w1"), webhook("s1", "surveymonkey"))
    out = h.send(b"\x00garbage", integration_id="ehr")
    assert [o.topic for o in out] == [TOPICS.invalid_events]
    invalid = InvalidEventV1.model_validate_json(out[0].value or b"")
    assert invalid.value_b64 == "AGdhcmJhZ2U="
    assert invalid.headers == {"integration-id": "ehr"}
    assert invalid.reason.startswith("not JSON")
    assert (invalid.source_topic, invalid.partition, invalid.offset) == (TOPICS.fhir_events, 0, 1)
    body = sm_body("response_completed")
    del body["event_type"]
    out = h.send(body, TOPICS.surveymonkey_events)
    assert InvalidEventV1.model_validate_json(out[0].value or b"").reason.startswith("event_type: missing")
    bundle = sample("fhir/transaction_bundle.json")
    bundle["entry"].insert(1, {"resource": {"resourceType": "Nope", "id": "1"}, "request": {"method": "PUT"}})
    out = h.send(bundle)
    assert sorted(o.topic for o in out) == sorted([TOPICS.deliveries] * 3 + [TOPICS.invalid_events])
    entry_error = next(
        InvalidEventV1.model_validate_json(o.value or b"") for o in out if o.topic == TOPICS.invalid_events
    )
    assert entry_error.entry_index == 1
    assert h.metric("carehooks_events_consumed_total", integration="ehr", outcome="invalid") == 2
    assert h.metric("carehooks_events_consumed_total", integration="surveymonkey", outcome="invalid") == 1


def test_priority_routing() -> None:
    h = Harness()
    sm = "surveymonkey"
    h.add(webhook("normal", sm), webhook("vip", sm, priority="high"))
    contact = sample("surveymonkey/contact_created.json")
    topics = lambda out: sorted((o.key or b"").decode() + ">" + o.topic for o in out if o.job_labels)  # noqa: E731
    assert topics(h.send(contact, TOPICS.surveymonkey_events)) == [
        "normal>" + TOPICS.deliveries,
        "vip>" + TOPICS.deliveries_priority,
    ]
    rules = [
        {"custom_field_rules": [ContactRule(field="3", equals="HIGH")]},
        {"contact_ids": ["1234"]},
        {"contact_list_ids": ["77"]},
        {"event_types": ["contact_created"]},
    ]
    for rule in rules:
        record = PriorityRulesV1(integration_id=sm, updated_at=utcnow(), **rule)  # type: ignore[arg-type]
        h.view.apply(priority_rules_key(sm), record.to_bytes())
        assert topics(h.send(contact, TOPICS.surveymonkey_events)) == [
            "normal>" + TOPICS.deliveries_priority,
            "vip>" + TOPICS.deliveries_priority,
        ], rule
    not_matching = PriorityRulesV1(
        integration_id=sm,
        updated_at=utcnow(),
        contact_ids=["1"],
        custom_field_rules=[ContactRule(field="3", equals="low")],
    )
    h.view.apply(priority_rules_key(sm), not_matching.to_bytes())
    assert topics(h.send(contact, TOPICS.surveymonkey_events))[0] == "normal>" + TOPICS.deliveries


def test_contact_normalisation_and_flags() -> None:
    h = Harness()
    h.add(webhook("s", "surveymonkey"))
    (job,) = h.jobs(h.send(sample("surveymonkey/contact_created.json"), TOPICS.surveymonkey_events))
    contact = json.loads(job.body)["data"]["resources"]["contact"]
    assert (contact["email"], contact["phone_number"]) == ("jane.doe@example.org", "+14155550132")
    assert job.quality_flags == []
    bad = sample("surveymonkey/contact_created.json")
    bad["resources"]["contact"].update(email="jane at example", phone_number="12")
    (job,) = h.jobs(h.send(bad, TOPICS.surveymonkey_events))
    contact = json.loads(job.body)["data"]["resources"]["contact"]
    assert (contact["email"], contact["phone_number"]) == ("jane at example", "12")
    assert job.quality_flags == ["invalid_email", "invalid_phone"]


def test_filters_see_the_normalised_contact() -> None:
    h = Harness()
    h.add(webhook("s", "surveymonkey", filter={"data.resources.contact.email": "jane.doe@example.org"}))
    assert h.matched(sample("surveymonkey/contact_created.json"), TOPICS.surveymonkey_events) == ["s"]


def test_patient_link_in_one_instance() -> None:
    h = Harness()
    h.add(webhook("s", "surveymonkey"))
    out = h.send(sample("fhir/patient.json"))
    index_records = {
        o.key: PatientIndexEntryV1.model_validate_json(o.value or b"")
        for o in out
        if o.topic == TOPICS.patient_index
    }
    assert {k: v.patient_reference for k, v in index_records.items()} == {
        b"email:jane.doe@example.org": "Patient/example",
        b"phone:+14155550132": "Patient/example",
    }
    (job,) = h.jobs(h.send(sample("surveymonkey/contact_created.json"), TOPICS.surveymonkey_events))
    assert json.loads(job.body)["patient_reference"] == "Patient/example"
    (job,) = h.jobs(h.send(sample("surveymonkey/response_completed.json"), TOPICS.surveymonkey_events))
    assert json.loads(job.body)["patient_reference"] == "Patient/example"
    # The patient's email changes: the old key is tombstoned, the phone still links.
    patient = sample("fhir/patient.json")
    patient["telecom"] = [{"system": "email", "value": "new@example.org"}, patient["telecom"][1]]
    out = h.send(patient)
    assert {(o.key, o.value is None) for o in out if o.topic == TOPICS.patient_index} == {
        (b"email:jane.doe@example.org", True),
        (b"email:new@example.org", False),
    }
    h.send(patient, fhir_interaction="delete")
    (job,) = h.jobs(h.send(sample("surveymonkey/contact_created.json"), TOPICS.surveymonkey_events))
    assert "patient_reference" not in json.loads(job.body)


@pytest.mark.parametrize("value", [b"{}", b"[]", b"null", b'{"event_type": 5}', b'"x"', b"1e999999"])
def test_never_raises_on_junk(value: bytes) -> None:
    h = Harness()
    for topic in (TOPICS.fhir_events, TOPICS.surveymonkey_events):
        out = h.send(value, topic)
        assert [o.topic for o in out] == [TOPICS.invalid_events]


def test_oversized_inputs_cannot_stall_the_partition() -> None:
    # Inputs this big are refused whole by default (next test); raise the input bound to reach the job bound.
    h = Harness(ProcessingLimits(max_input_bytes=8_000_000))
    h.add(webhook("w1"))
    huge = {"resourceType": "Task", "id": "big", "note": [{"text": "x" * 3_600_000}]}
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": huge, "request": {"method": "PUT", "url": "Task/big"}},
            {
                "resource": {"resourceType": "Task", "id": "small"},
                "request": {"method": "PUT", "url": "Task/small"},
            },
        ],
    }
    out = h.send(bundle)
    assert sorted(o.topic for o in out) == sorted([TOPICS.invalid_events, TOPICS.deliveries])
    invalid = next(
        InvalidEventV1.model_validate_json(o.value or b"") for o in out if o.topic == TOPICS.invalid_events
    )
    assert invalid.reason.startswith("too_large: ")
    assert "exceeds the 3500000-byte message limit" in invalid.reason
    assert "value truncated to its first 1000000 of" in invalid.reason
    assert all(len(o.value or b"") < 3_500_000 for o in out)


def test_input_over_the_input_bound_is_too_large_and_its_copy_is_bounded() -> None:
    h = Harness(ProcessingLimits(max_input_bytes=2_000, max_job_bytes=3_500_000))
    h.add(webhook("w1"))
    doc = {"resourceType": "Task", "id": "t", "note": [{"text": "x" * 5_000}]}
    out = h.send(doc)
    assert [o.topic for o in out] == [TOPICS.invalid_events]
    invalid = InvalidEventV1.model_validate_json(out[0].value or b"")
    assert invalid.reason.startswith("too_large: record of ")
    assert "2000-byte input limit" in invalid.reason
    assert h.send({"resourceType": "Task", "id": "small"})[0].topic == TOPICS.deliveries


def test_invalid_copy_bounds_key_headers_and_value() -> None:
    h = Harness()
    headers: list[tuple[str, bytes | None]] = [(f"h{i}", b"v" * 100_000) for i in range(100)]
    headers.append(("null-header", None))
    record = InputRecord(TOPICS.fhir_events, 0, 1, b"k" * 50_000, b"\xff" * 1_500_000, headers, 0)
    (out,) = h.processor.process(record)
    invalid = InvalidEventV1.model_validate_json(out.value or b"")
    assert len(out.value or b"") < 1_450_000
    assert len(out.key or b"") == 1024
    assert len(invalid.headers) == 32
    assert all(len(v) <= 1024 for v in invalid.headers.values())
    assert len(base64.b64decode(invalid.value_b64)) == 1_000_000


def test_a_filter_over_its_budget_skips_that_webhook_only(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(ProcessingLimits(filter_budget_steps=2_000))
    expensive = {"$and": [{"data.note.text": {"$nin": [f"-{i}"]}} for i in range(1, 100)]}
    h.add(
        webhook("cheap", event_types=["Task.*"]), webhook("costly", event_types=["Task.*"], filter=expensive)
    )
    secret = "PHI-do-not-log"
    doc = {"resourceType": "Task", "id": "wide", "note": [{"text": f"{secret} {i}"} for i in range(500)]}
    with caplog.at_level("DEBUG"):
        out = h.send(doc)
    assert [json.loads(o.value or b"")["webhook_id"] for o in out] == ["cheap"]
    assert h.metrics.filter_budget_exceeded._value.get() == 1
    assert h.metrics.filter_errors._value.get() == 0
    assert any(r.getMessage() == "filter evaluation budget exceeded" for r in caplog.records)
    assert secret not in caplog.text
    narrow = {"resourceType": "Task", "id": "narrow", "note": [{"text": "x"}]}
    assert sorted(json.loads(o.value or b"")["webhook_id"] for o in h.send(narrow)) == ["cheap", "costly"]
