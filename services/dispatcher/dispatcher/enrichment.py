"""Contact validation and enrichment of SurveyMonkey events, and the patient link.

A contact event's ``resources.contact`` (and a response event's ``resources.recipient``, which our
connector adds when it knows the invite recipient) get a lower-cased email and an E.164 phone in
place; a value that fails the check stays as sent and the event carries ``invalid_email`` /
``invalid_phone`` in ``quality_flags``. Then the normalised email (first) or phone is looked up in
the patient index and, when found, becomes the event's ``patient_reference``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dispatcher.events import NormalisedEvent
from dispatcher.patient_index import PatientIndex
from webhook_core.contacts import (
    INVALID_EMAIL,
    INVALID_PHONE,
    Normalised,
    email_key,
    normalize_email,
    normalize_phone,
    phone_key,
)

CONTACT_OBJECT_TYPES = frozenset({"contact"})


def _email(value: str, _region: str) -> Normalised:
    return normalize_email(value)


_FIELDS: tuple[tuple[str, Callable[[str, str], Normalised], Callable[[str], str], str], ...] = (
    ("email", _email, email_key, INVALID_EMAIL),
    ("phone_number", normalize_phone, phone_key, INVALID_PHONE),
)
"""Contact field, its normaliser, its patient-index key and its quality flag; email is looked up first."""


def linkable_person(event: NormalisedEvent) -> tuple[str, dict[str, Any]] | None:
    """The contact-like object of a linkable SurveyMonkey event, with its field name, or None."""
    if event.source != "surveymonkey":
        return None
    resources = event.data.get("resources")
    if not isinstance(resources, dict):
        return None
    if event.object_type in CONTACT_OBJECT_TYPES and isinstance(resources.get("contact"), dict):
        return "contact", resources["contact"]
    if (
        event.object_type == "response"
        and resources.get("recipient_id")
        and isinstance(resources.get("recipient"), dict)
    ):
        return "recipient", resources["recipient"]
    return None


def enrich_contact(event: NormalisedEvent, region: str) -> list[str]:
    """Normalise the event's contact in place (copy-on-write) and return the index keys to look up."""
    found = linkable_person(event)
    if found is None:
        return []
    name, person = found
    person = dict(person)
    keys: list[str] = []
    for field, normalise, key_of, flag in _FIELDS:
        value = person.get(field)
        if isinstance(value, str) and value.strip():
            result = normalise(value, region)
            person[field] = result.value
            if result.valid:
                keys.append(key_of(result.value))
                continue
        elif value is None or isinstance(value, str):
            continue  # absent or blank: nothing to check
        event.quality_flags.append(flag)
    resources = dict(event.data["resources"])
    resources[name] = person
    event.data = {**event.data, "resources": resources}
    return keys


def link_patient(event: NormalisedEvent, index: PatientIndex, region: str) -> None:
    """Enrich the contact and set ``patient_reference`` when the index knows its email or phone."""
    keys = enrich_contact(event, region)
    if keys:
        event.patient_reference = index.lookup(keys)
