"""The committed JSON Schemas match the models; catalogs are complete."""

from __future__ import annotations

from contracts.catalogs import (
    SURVEYMONKEY_EVENT_TYPES,
    event_catalog,
    event_type_matches,
    event_type_pattern_valid,
)
from contracts.schema import SCHEMA_DIR, render_schemas
from contracts.topics import Topics


def test_committed_schemas_match_models() -> None:
    rendered = render_schemas()
    committed = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.json")}
    assert set(committed) == set(rendered), "schema files added or removed: run `make schemas`"
    for name, text in rendered.items():
        assert committed[name] == text, f"{name} drifted from its model: run `make schemas`"


def test_surveymonkey_catalog_has_the_twelve_events_and_contact_events() -> None:
    sm = set(SURVEYMONKEY_EVENT_TYPES)
    for group in ("response", "collector", "survey"):
        assert f"{group}_created" in sm and f"{group}_deleted" in sm
    assert {"response_completed", "response_disqualified", "response_overquota", "response_updated"} <= sm
    assert {"contact_created", "contact_list_contacts_added", "contact_list_contacts_removed"} <= sm
    assert len([e for e in sm if not e.startswith("contact")]) == 12


def test_fhir_catalog_covers_required_resources() -> None:
    fhir = set(event_catalog("fhir"))
    for rt in (
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
        for op in ("create", "update", "delete"):
            assert f"{rt}.{op}" in fhir


def test_event_type_patterns() -> None:
    fhir = set(event_catalog("fhir"))
    assert event_type_pattern_valid("Appointment.*", fhir, "fhir")
    assert event_type_pattern_valid("*", fhir, "fhir")
    assert not event_type_pattern_valid("Nope.*", fhir, "fhir")
    assert not event_type_pattern_valid("Appointment.create2", fhir, "fhir")
    assert event_type_matches("Appointment.*", "Appointment.update")
    assert not event_type_matches("Appointment.*", "AppointmentResponse.update")
    assert event_type_matches("*", "response_completed")


def test_topic_prefix_applies_to_every_topic() -> None:
    t = Topics().with_prefix("x.")
    assert all(name.startswith("x.") for name in t.all_topics())
    assert t.webhooks_config in t.compacted()
    assert len(set(t.all_topics())) == len(t.all_topics())
