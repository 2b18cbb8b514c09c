"""JSON Schemas of the two input topics' payloads and of the headers records carry, for the AsyncAPI
document (:mod:`contracts.asyncapi`).

Inputs are not our models: SurveyMonkey callbacks and FHIR resources / Bundles. These schemas describe
what the dispatcher accepts (docs/dispatcher.md, "Inputs"); the enums come from the catalogs.
"""

from __future__ import annotations

from typing import Any

from contracts.catalogs import FHIR_RESOURCE_TYPES, SURVEYMONKEY_EVENT_TYPES, SURVEYMONKEY_OBJECT_TYPES

TRACEPARENT_IN = {
    "type": "string",
    "description": "W3C trace context, optional; carried along when present.",
}
TRACEPARENT_CARRIED = {
    "type": "string",
    "description": "W3C trace context of the span that wrote the record (the dispatch span for jobs, "
    "retry hops, dead letters and replays; the attempt span for results); present when tracing is on "
    "or the input event carried one.",
}


def integration_header(default: str) -> dict[str, Any]:
    """The ``integration-id`` header of an input topic whose integration defaults to ``default``."""
    return {
        "type": "string",
        "maxLength": 128,
        "description": f"Integration the event belongs to; default `{default}` when absent or empty.",
    }


def surveymonkey_payload() -> dict[str, Any]:
    """JSON Schema of what integrations.surveymonkey.events carries (what the dispatcher accepts)."""
    contact = {
        "type": "object",
        "description": "Contact (connector contact events); email / phone are normalised by the dispatcher.",
        "properties": {
            "id": {"type": "string"},
            "email": {"type": "string"},
            "phone_number": {"type": "string"},
            "first_name": {"type": "string"},
            "last_name": {"type": "string"},
            "custom_fields": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    return {
        "type": "object",
        "title": "SurveyMonkey callback",
        "description": (
            "A SurveyMonkey webhook callback body, or a connector contact event in the same envelope "
            "(object_type contact / contact_list, the contact under resources.contact)."
        ),
        "required": ["event_type", "event_id", "object_type", "object_id"],
        "properties": {
            "name": {"type": "string"},
            "filter_type": {"type": "string"},
            "filter_id": {"type": "string"},
            "event_type": {"type": "string", "enum": sorted(SURVEYMONKEY_EVENT_TYPES)},
            "event_id": {"type": "string"},
            "object_type": {"type": "string", "enum": sorted(SURVEYMONKEY_OBJECT_TYPES)},
            "object_id": {"type": "string"},
            "event_datetime": {"type": "string", "format": "date-time"},
            "resources": {
                "type": "object",
                "properties": {
                    "survey_id": {"type": "string"},
                    "collector_id": {"type": "string"},
                    "respondent_id": {"type": "string"},
                    "recipient_id": {"type": "string"},
                    "contact_id": {"type": "string"},
                    "contact_list_id": {"type": "string"},
                    "contact": contact,
                    "recipient": contact,
                },
            },
        },
    }


def fhir_payload() -> dict[str, Any]:
    """JSON Schema of what integrations.fhir.events carries: one resource or a Bundle."""
    meta = {
        "type": "object",
        "properties": {
            "versionId": {"type": "string"},
            "lastUpdated": {"type": "string", "format": "date-time"},
        },
    }
    resource = {
        "type": "object",
        "title": "FHIR resource",
        "required": ["resourceType"],
        "properties": {
            "resourceType": {"type": "string", "enum": sorted(FHIR_RESOURCE_TYPES)},
            "id": {"type": "string"},
            "meta": meta,
        },
        "additionalProperties": True,
    }
    entry = {
        "type": "object",
        "properties": {
            "fullUrl": {"type": "string"},
            "resource": {
                "type": "object",
                "description": "A FHIR resource (absent for id-only notifications).",
            },
            "request": {
                "type": "object",
                "properties": {
                    "method": {"type": "string", "enum": ["POST", "PUT", "PATCH", "DELETE", "GET"]},
                    "url": {"type": "string"},
                },
            },
        },
    }
    bundle = {
        "type": "object",
        "title": "FHIR Bundle",
        "description": (
            "history (R4/R4B backport) and subscription-notification (R5): one event per entry, a leading "
            "Parameters / SubscriptionStatus entry skipped; transaction / batch: one event per entry "
            "(entry.request required)."
        ),
        "required": ["resourceType", "type"],
        "properties": {
            "resourceType": {"const": "Bundle"},
            "type": {
                "type": "string",
                "enum": ["history", "subscription-notification", "transaction", "batch"],
            },
            "entry": {"type": "array", "items": entry},
        },
    }
    return {"title": "FHIR resource or Bundle", "oneOf": [bundle, resource]}
