"""Parsing SurveyMonkey and FHIR inputs into normalised events (pure, table-tested)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from dispatcher_helpers import sample, sm_body

from contracts.catalogs import SURVEYMONKEY_EVENT_TYPES
from dispatcher.events import InvalidInputError, load_json
from dispatcher.fhir import parse_fhir
from dispatcher.surveymonkey import parse_surveymonkey

KAFKA_TIME = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize("event_type", sorted(SURVEYMONKEY_EVENT_TYPES))
def test_every_surveymonkey_event_type(event_type: str) -> None:
    event = parse_surveymonkey(sm_body(event_type), "surveymonkey", KAFKA_TIME)
    assert event.event_type == event_type
    assert event.event_id == f"e-{event_type}"
    assert event.event_time == datetime(2024, 5, 1, 10, 0, 0, 1, tzinfo=UTC)
    assert {"survey", "collector", event.object_type} <= event.object_types
    assert {"o1", "s1", "c1"} <= event.object_ids


def test_surveymonkey_scopes_follow_the_callback() -> None:
    body = sample("surveymonkey/response_completed.json")
    event = parse_surveymonkey(body, "sm", KAFKA_TIME)
    assert event.object_types == {"response", "collector", "survey"}
    assert event.object_ids == {"123456", "987654321", "123456789"}
    assert event.filter_view()["data"]["resources"]["user_id"] == "555"
    # A survey-level event with no collector is not in any collector's scope.
    survey = parse_surveymonkey(
        sm_body("survey_updated", filter_type=None, resources={"survey_id": "s1"}), "sm", KAFKA_TIME
    )
    assert survey.object_types == {"survey"}


def test_surveymonkey_without_datetime_uses_kafka_time() -> None:
    body = sm_body("response_created")
    del body["event_datetime"]
    assert parse_surveymonkey(body, "sm", KAFKA_TIME).event_time == KAFKA_TIME


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"event_type": None}, "event_type: missing"),
        ({"event_type": "app_installed"}, "unknown SurveyMonkey event type"),
        ({"event_id": None}, "event_id: missing"),
        ({"object_type": "banana"}, "object_type: expected one of"),
        ({"object_id": ""}, "object_id: missing"),
        ({"resources": [1]}, "resources: expected an object"),
        ({"resources": {"contact": "x"}}, "resources.contact: expected an object"),
        ({"event_datetime": "yesterday"}, "event_datetime: 'yesterday' is not an ISO-8601"),
    ],
)
def test_surveymonkey_invalid(change: dict[str, Any], reason: str) -> None:
    body = {**sm_body("response_completed"), **change}
    with pytest.raises(InvalidInputError, match=reason):
        parse_surveymonkey(body, "sm", KAFKA_TIME)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (None, "null value"),
        (b"[" * 100000 + b"]" * 100000, "not JSON"),
    ],
)
def test_load_json_rejects(value: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        load_json(value)


def test_single_resource_with_and_without_header() -> None:
    appointment = sample("fhir/appointment.json")
    (event,) = parse_fhir(appointment, "ehr", None, KAFKA_TIME).events
    assert event.event_type == "Appointment.update"
    assert event.event_id == "Appointment/example/_history/2:update"
    assert event.event_time == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert event.object_ids == {"example", "Appointment/example"}
    (created,) = parse_fhir(appointment, "ehr", "create", KAFKA_TIME).events
    assert created.event_type == "Appointment.create"
    assert created.event_id == "Appointment/example/_history/2:create"


def test_content_hash_when_no_version() -> None:
    resource = {"resourceType": "Task", "id": "t1", "status": "requested"}
    first = parse_fhir(resource, "ehr", None, KAFKA_TIME).events[0]
    again = parse_fhir(dict(resource), "ehr", None, KAFKA_TIME).events[0]
    changed = parse_fhir({**resource, "status": "completed"}, "ehr", None, KAFKA_TIME).events[0]
    assert first.event_id.startswith("Task/t1/_hash/")
    assert first.event_id == again.event_id != changed.event_id
    assert first.event_time == KAFKA_TIME


def test_history_bundle_skips_status() -> None:
    result = parse_fhir(sample("fhir/history_bundle.json"), "ehr", None, KAFKA_TIME)
    assert result.errors == []
    assert [e.event_id for e in result.events] == ["Appointment/example/_history/3:update"]


def test_r4_parameters_status_is_skipped() -> None:
    bundle = sample("fhir/history_bundle.json")
    bundle["entry"][0]["resource"] = {"resourceType": "Parameters", "parameter": []}
    assert len(parse_fhir(bundle, "ehr", None, KAFKA_TIME).events) == 1


def test_r5_notification_bundle() -> None:
    result = parse_fhir(sample("fhir/notification_bundle_r5.json"), "ehr", None, KAFKA_TIME)
    assert [e.event_type for e in result.events] == ["Task.create"]


def test_transaction_bundle_interactions() -> None:
    result = parse_fhir(sample("fhir/transaction_bundle.json"), "ehr", None, KAFKA_TIME)
    assert result.errors == []
    assert [(e.event_type, e.object_id) for e in result.events] == [
        ("Task.create", "t2"),
        ("Appointment.update", "example"),
        ("Slot.delete", "slot-9"),
    ]


def test_heartbeat_bundle_has_no_events() -> None:
    bundle = sample("fhir/history_bundle.json")
    bundle["entry"] = bundle["entry"][:1]
    result = parse_fhir(bundle, "ehr", None, KAFKA_TIME)
    assert (result.events, result.errors) == ([], [])


def test_broken_entries_are_reported_good_ones_kept() -> None:
    bundle = sample("fhir/transaction_bundle.json")
    bundle["entry"].append({"resource": {"resourceType": "Task", "id": "t3"}})
    bundle["entry"].append(
        {"resource": {"resourceType": "Spaceship", "id": "x"}, "request": {"method": "PUT"}}
    )
    bundle["entry"].append("junk")
    result = parse_fhir(bundle, "ehr", None, KAFKA_TIME)
    assert len(result.events) == 3
    assert [(e.index, e.reason.split(":")[0]) for e in result.errors] == [
        (3, "Bundle.entry[3]"),
        (4, "Bundle.entry[4]"),
        (5, "Bundle.entry[5]"),
    ]
    assert "request: required in a transaction bundle" in result.errors[0].reason
    assert "'Spaceship' is not a supported FHIR resource type" in result.errors[1].reason


@pytest.mark.parametrize(
    ("doc", "interaction", "reason"),
    [
        ([1], None, "expected a JSON object"),
        ({"resourceType": "Banana", "id": "1"}, None, "'Banana' is not a supported"),
        ({"id": "1"}, None, "resourceType: missing"),
        ({"resourceType": "Task"}, None, "Task.id: missing"),
        ({"resourceType": "Task", "id": "a/b"}, None, "Task.id: missing or not a FHIR id"),
        ({"resourceType": "Task", "id": "1"}, "upsert", "fhir-interaction header"),
        ({"resourceType": "Task", "id": "1", "meta": {"lastUpdated": "soon"}}, None, "Task.meta.lastUpdated"),
        ({"resourceType": "Bundle", "type": "searchset", "entry": []}, None, "Bundle.type"),
        ({"resourceType": "Bundle", "type": "batch", "entry": {}}, None, "Bundle.entry: expected a list"),
    ],
)
def test_fhir_invalid(doc: object, interaction: str | None, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        parse_fhir(doc, "ehr", interaction, KAFKA_TIME)
