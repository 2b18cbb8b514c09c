"""Realistic sample payloads for test deliveries (synthetic data only, no real patient data).

The body has the shape the dispatcher POSTs (``{"type", "timestamp", "data", "integration_id",
"event_id", "object_type", "object_id"}``) plus ``"test": true`` so receivers can tell it apart.
``data`` is a SurveyMonkey callback body (as SurveyMonkey sends it; contact events as our
connector produces them) or a FHIR R4 resource; custom integrations get a small generic object.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime
from typing import Any

from contracts.catalogs import IntegrationType

_SM_TIME = "2026-01-15T09:30:12.182613+00:00"

_SM_CONTACT: dict[str, Any] = {
    "id": "3300112233",
    "first_name": "Alex",
    "last_name": "Example",
    "email": "alex.example@example.org",
    "phone_number": "+15555550123",
    "custom_fields": {"1": "Ms", "2": "Example Clinic", "3": "high"},
    "href": "https://api.surveymonkey.com/v3/contacts/3300112233",
}


def _surveymonkey(event_type: str, event_id: str) -> tuple[dict[str, Any], str, str]:
    """(callback body, object_type, object_id) of a SurveyMonkey event."""
    resources: dict[str, Any] = {"survey_id": "405123456", "user_id": "170001234"}
    if event_type.startswith("response_"):
        object_type, object_id = "response", "11823345678"
        resources |= {"collector_id": "272345678", "respondent_id": "11823345678", "recipient_id": "9912345"}
        filter_type, filter_id = "collector", "272345678"
    elif event_type.startswith("collector_"):
        object_type, object_id = "collector", "272345678"
        resources |= {"collector_id": "272345678"}
        filter_type, filter_id = "survey", "405123456"
    elif event_type.startswith("survey_"):
        object_type, object_id = "survey", "405123456"
        filter_type, filter_id = "survey", "405123456"
    elif event_type.startswith("contact_list"):
        object_type, object_id = "contact_list", "5511223"
        resources = {"contact_list": {"id": "5511223", "name": "Priority patients"}, "user_id": "170001234"}
        if event_type.endswith(("_added", "_removed")):
            resources["contact"] = copy.deepcopy(_SM_CONTACT)
        filter_type, filter_id = "contact_list", "5511223"
    else:  # contact_*
        object_type, object_id = "contact", _SM_CONTACT["id"]
        resources = {"contact": copy.deepcopy(_SM_CONTACT), "user_id": "170001234"}
        filter_type, filter_id = "contact", _SM_CONTACT["id"]
    body = {
        "name": "carehooks test delivery",
        "filter_type": filter_type,
        "filter_id": filter_id,
        "event_type": event_type,
        "event_id": event_id,
        "object_type": object_type,
        "object_id": object_id,
        "event_datetime": _SM_TIME,
        "resources": resources,
    }
    return body, object_type, object_id


_META = {"versionId": "3", "lastUpdated": "2026-01-15T09:30:12Z"}
_PATIENT_REF = {"reference": "Patient/example-patient", "display": "Alex Example"}
_PRACTITIONER_REF = {"reference": "Practitioner/example-practitioner", "display": "Dr. Sam Sample"}
_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem"

FHIR_SAMPLES: dict[str, dict[str, Any]] = {
    "Patient": {
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.4.3.25", "value": "TEST-000123"}],
        "active": True,
        "name": [{"use": "official", "family": "Example", "given": ["Alex"]}],
        "telecom": [
            {"system": "email", "value": "alex.example@example.org", "use": "home"},
            {"system": "phone", "value": "+15555550123", "use": "mobile"},
        ],
        "gender": "female",
        "birthDate": "1980-04-02",
        "managingOrganization": {"reference": "Organization/example-clinic"},
    },
    "Appointment": {
        "status": "booked",
        "serviceType": [
            {
                "coding": [
                    {"system": "http://snomed.info/sct", "code": "394814009", "display": "General practice"}
                ]
            }
        ],
        "description": "Follow-up consultation",
        "start": "2026-01-20T14:00:00Z",
        "end": "2026-01-20T14:30:00Z",
        "participant": [
            {"actor": _PATIENT_REF, "required": "required", "status": "accepted"},
            {"actor": _PRACTITIONER_REF, "required": "required", "status": "accepted"},
        ],
    },
    "Observation": {
        "status": "final",
        "category": [{"coding": [{"system": f"{_CODE_SYSTEM}/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": _PATIENT_REF,
        "effectiveDateTime": "2026-01-15T09:25:00Z",
        "valueQuantity": {
            "value": 72,
            "unit": "beats/minute",
            "system": "http://unitsofmeasure.org",
            "code": "/min",
        },
    },
    "Encounter": {
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "AMB",
            "display": "ambulatory",
        },
        "subject": _PATIENT_REF,
        "participant": [{"individual": _PRACTITIONER_REF}],
        "period": {"start": "2026-01-15T09:00:00Z", "end": "2026-01-15T09:30:00Z"},
    },
    "Condition": {
        "clinicalStatus": {"coding": [{"system": f"{_CODE_SYSTEM}/condition-clinical", "code": "active"}]},
        "verificationStatus": {
            "coding": [{"system": f"{_CODE_SYSTEM}/condition-ver-status", "code": "confirmed"}]
        },
        "code": {
            "coding": [
                {"system": "http://snomed.info/sct", "code": "38341003", "display": "Hypertensive disorder"}
            ]
        },
        "subject": _PATIENT_REF,
        "onsetDateTime": "2025-06-01",
    },
    "CareTeam": {
        "status": "active",
        "name": "Cardiology care team",
        "subject": _PATIENT_REF,
        "participant": [{"member": _PRACTITIONER_REF}],
    },
    "CarePlan": {
        "status": "active",
        "intent": "plan",
        "title": "Blood pressure management",
        "subject": _PATIENT_REF,
        "period": {"start": "2026-01-15"},
    },
    "Task": {
        "status": "requested",
        "intent": "order",
        "description": "Call the patient to confirm the follow-up appointment",
        "for": _PATIENT_REF,
        "owner": _PRACTITIONER_REF,
        "authoredOn": "2026-01-15T09:30:00Z",
    },
    "Schedule": {
        "active": True,
        "actor": [_PRACTITIONER_REF],
        "planningHorizon": {"start": "2026-01-19T08:00:00Z", "end": "2026-01-23T17:00:00Z"},
    },
    "Slot": {
        "schedule": {"reference": "Schedule/example-schedule"},
        "status": "free",
        "start": "2026-01-20T14:00:00Z",
        "end": "2026-01-20T14:30:00Z",
    },
    "PractitionerRole": {
        "active": True,
        "practitioner": _PRACTITIONER_REF,
        "organization": {"reference": "Organization/example-clinic"},
        "code": [
            {"coding": [{"system": "http://snomed.info/sct", "code": "17561000", "display": "Cardiologist"}]}
        ],
    },
    "DiagnosticReport": {
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "58410-2", "display": "CBC panel"}]},
        "subject": _PATIENT_REF,
        "effectiveDateTime": "2026-01-15T08:00:00Z",
        "issued": "2026-01-15T09:00:00Z",
        "result": [{"reference": "Observation/example-observation"}],
    },
    "QuestionnaireResponse": {
        "status": "completed",
        "questionnaire": "http://example.org/Questionnaire/phq-2",
        "subject": _PATIENT_REF,
        "authored": "2026-01-15T09:10:00Z",
        "item": [{"linkId": "1", "answer": [{"valueInteger": 0}]}],
    },
}


def _fhir(event_type: str) -> tuple[dict[str, Any], str, str]:
    """(resource, object_type, object_id) of a FHIR event ``<ResourceType>.<interaction>``."""
    resource_type, _, interaction = event_type.partition(".")
    resource_id = f"example-{resource_type.lower()}"
    if interaction == "delete":
        # A delete carries no current content, only the identity of what was deleted.
        return {"resourceType": resource_type, "id": resource_id}, resource_type, resource_id
    content = copy.deepcopy(
        FHIR_SAMPLES.get(resource_type, {"text": {"status": "generated", "div": "<div>Sample</div>"}})
    )
    resource = {"resourceType": resource_type, "id": resource_id, "meta": dict(_META), **content}
    return resource, resource_type, resource_id


def sample_payload(
    integration_type: IntegrationType, integration_id: str, event_type: str, now: datetime
) -> dict[str, Any]:
    """The test body for one event type of an integration."""
    event_id = f"test_{uuid.uuid4().hex}"
    data: dict[str, Any]
    if integration_type == "surveymonkey":
        data, object_type, object_id = _surveymonkey(event_type, event_id)
    elif integration_type == "fhir":
        data, object_type, object_id = _fhir(event_type)
        event_id = f"{object_type}/{object_id}/_history/{_META['versionId']}:{event_type.partition('.')[2]}:{event_id}"
    else:
        object_type, object_id = "test", "test-object-1"
        data = {"message": "This is a test delivery from carehooks.", "event_type": event_type}
    return {
        "type": event_type,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": data,
        "integration_id": integration_id,
        "event_id": event_id,
        "object_type": object_type,
        "object_id": object_id,
        "test": True,
    }


def render(payload: dict[str, Any]) -> str:
    """The exact JSON text sent (compact, like the dispatcher's bodies)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
