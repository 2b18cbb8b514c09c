"""FHIR search-style criteria compile to filters that behave like the search."""

from __future__ import annotations

from typing import Any

import pytest

from webhook_core.criteria import SEARCH_PARAMETERS, compile_criteria, parse_criteria
from webhook_core.filters import FilterError, compile_filter


def _event(resource: dict[str, Any]) -> dict[str, Any]:
    rt = resource["resourceType"]
    return {
        "type": f"{rt}.update",
        "object_type": rt,
        "object_id": resource.get("id"),
        "integration_id": "ehr",
        "data": resource,
    }


APPT = _event(
    {
        "resourceType": "Appointment",
        "id": "a1",
        "status": "booked",
        "start": "2024-05-01T10:00:00Z",
        "participant": [{"actor": {"reference": "Patient/p1"}}, {"actor": {"reference": "Practitioner/123"}}],
        "serviceType": [{"coding": [{"system": "http://snomed.info/sct", "code": "57"}]}],
        "meta": {"lastUpdated": "2024-05-01T09:00:00Z"},
    }
)
TASK = _event(
    {
        "resourceType": "Task",
        "id": "t1",
        "status": "requested",
        "owner": {"reference": "Practitioner/123"},
        "for": {"reference": "Patient/p1"},
    }
)
PATIENT = _event(
    {
        "resourceType": "Patient",
        "id": "p1",
        "active": True,
        "managingOrganization": {"reference": "Organization/1"},
        "identifier": [{"system": "urn:mrn", "value": "MRN-9"}],
        "name": [{"family": "Chalmers", "given": ["Peter"]}],
    }
)


@pytest.mark.parametrize(
    ("criteria", "event", "expected"),
    [
        ("Appointment?status=booked", APPT, True),
        ("Appointment?status=cancelled", APPT, False),
        ("Appointment?status=cancelled,booked", APPT, True),
        ("Appointment?status:not=booked", APPT, False),
        ("Appointment?status:not=cancelled", APPT, True),
        ("Appointment", APPT, True),
        ("Appointment?", APPT, True),
        ("Appointment?status=booked", TASK, False),
        ("Appointment?actor=Practitioner/123", APPT, True),
        ("Appointment?practitioner=123", APPT, True),
        ("Appointment?patient=p2", APPT, False),
        ("Appointment?patient=Patient/p1&status=booked", APPT, True),
        ("Appointment?service-type=http://snomed.info/sct|57", APPT, True),
        ("Appointment?service-type=57", APPT, True),
        ("Appointment?service-type=http://other|57", APPT, False),
        ("Appointment?date=2024-05-01", APPT, True),
        ("Appointment?date=ge2024-05-02", APPT, False),
        ("Appointment?date=lt2024-05-02", APPT, True),
        ("Appointment?_id=a1", APPT, True),
        ("Appointment?_lastUpdated=gt2024-01-01", APPT, True),
        ("Appointment?slot:missing=true", APPT, True),
        ("Appointment?slot:missing=false", APPT, False),
        ("Task?owner=Practitioner/123&status=requested", TASK, True),
        ("Task?owner=Practitioner/123&status=completed", TASK, False),
        ("Task?owner=https://ehr.example.org/fhir/Practitioner/123", TASK, True),
        ("Task?patient=p1", TASK, True),
        ("Patient?organization=Organization/1", PATIENT, True),
        ("Patient?organization=2", PATIENT, False),
        ("Patient?identifier=urn:mrn|MRN-9", PATIENT, True),
        ("Patient?identifier=MRN-8", PATIENT, False),
        ("Patient?family=Chal", PATIENT, True),
        ("Patient?active=true", PATIENT, True),
        ("Patient?active=false", PATIENT, False),
        ("Patient?given=Pe%74er", PATIENT, True),
    ],
)
def test_criteria_match_like_a_search(criteria: str, event: dict[str, Any], expected: bool) -> None:
    assert compile_filter(compile_criteria(criteria)).matches(event) is expected


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ("", "criteria: empty"),
        ("Banana?status=x", "unknown resource type 'Banana'"),
        ("Appointment?colour=red", "criteria.colour: unsupported search parameter for Appointment"),
        ("Appointment?status", "criteria.status: expected <parameter>=<value>"),
        ("Appointment?status=", "criteria.status: empty value"),
        ("Appointment?status:exact=booked", "unsupported modifier :exact"),
        ("Appointment?actor=123", "expected Type/id"),
        ("Appointment?patient.name=x", "unsupported search parameter"),
        ("Patient?active=yes", "criteria.active: expected true or false"),
        ("Appointment?slot:missing=maybe", "expected true or false"),
    ],
)
def test_invalid_criteria(criteria: str, message: str) -> None:
    with pytest.raises(FilterError) as info:
        compile_criteria(criteria)
    assert message in str(info.value)


def test_resource_type_is_returned() -> None:
    assert parse_criteria("Task?status=requested").resource_type == "Task"


def test_every_documented_parameter_compiles() -> None:
    samples = {"reference": "Practitioner/1", "bool": "true", "date": "2024-01-01"}
    for rt, params in SEARCH_PARAMETERS.items():
        for name, spec in params.items():
            compile_criteria(f"{rt}?{name}={samples.get(spec.kind, 'x')}")
