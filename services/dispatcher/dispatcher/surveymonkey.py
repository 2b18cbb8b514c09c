"""SurveyMonkey callback bodies (and our connector's contact events) -> normalised events.

Scopes follow SurveyMonkey's own webhook API: an event belongs to its ``filter_type`` and to the
survey / collector named in ``resources``, so a subscription to ``survey`` 123 sees the survey's
collectors and responses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contracts.catalogs import SURVEYMONKEY_EVENT_TYPES, SURVEYMONKEY_OBJECT_TYPES
from dispatcher.events import InvalidInputError, NormalisedEvent, id_text, parse_time

DEFAULT_INTEGRATION = "surveymonkey"
_SCOPE_RESOURCES = (("survey", "survey_id"), ("collector", "collector_id"))


def parse_surveymonkey(doc: object, integration_id: str, kafka_time: datetime) -> NormalisedEvent:
    """Validate one callback body and normalise it (raises InvalidInputError naming the field)."""
    if not isinstance(doc, dict):
        raise InvalidInputError("expected a JSON object (a SurveyMonkey callback body)")
    event_type = doc.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidInputError("event_type: missing (required in a SurveyMonkey callback)")
    if event_type not in SURVEYMONKEY_EVENT_TYPES:
        raise InvalidInputError(f"event_type: unknown SurveyMonkey event type {event_type[:60]!r}")
    event_id = id_text(doc.get("event_id"))
    if event_id is None:
        raise InvalidInputError("event_id: missing or not a string")
    object_type = doc.get("object_type")
    if not isinstance(object_type, str) or object_type not in SURVEYMONKEY_OBJECT_TYPES:
        raise InvalidInputError(
            f"object_type: expected one of {', '.join(SURVEYMONKEY_OBJECT_TYPES)}, got {str(object_type)[:40]!r}"
        )
    object_id = id_text(doc.get("object_id"))
    if object_id is None:
        raise InvalidInputError("object_id: missing or not a string")
    resources = doc.get("resources", {})
    if resources is None:
        resources = {}
    if not isinstance(resources, dict):
        raise InvalidInputError("resources: expected an object")
    contact = resources.get("contact")
    if contact is not None and not isinstance(contact, dict):
        raise InvalidInputError("resources.contact: expected an object")
    raw_time = doc.get("event_datetime")
    event_time = parse_time(raw_time, "event_datetime") if raw_time is not None else kafka_time

    object_types = {object_type}
    object_ids = {object_id}
    filter_type = doc.get("filter_type")
    if isinstance(filter_type, str) and filter_type in SURVEYMONKEY_OBJECT_TYPES:
        object_types.add(filter_type)
    filter_id = id_text(doc.get("filter_id"))
    if filter_id is not None:
        object_ids.add(filter_id)
    for scope, field in _SCOPE_RESOURCES:
        scope_id = id_text(resources.get(field))
        if scope_id is not None:
            object_types.add(scope)
            object_ids.add(scope_id)
    data: dict[str, Any] = dict(doc)
    data["resources"] = dict(resources)
    return NormalisedEvent(
        source="surveymonkey",
        integration_id=integration_id,
        event_id=event_id,
        event_type=event_type,
        object_type=object_type,
        object_id=object_id,
        event_time=event_time,
        data=data,
        object_types=frozenset(object_types),
        object_ids=frozenset(object_ids),
    )
