"""Contact validation and enrichment of SurveyMonkey events, and the patient link.

A contact event's ``resources.contact`` (and a response event's ``resources.recipient``, which our
connector adds when it knows the invite recipient) get a lower-cased email and an E.164 phone in
place; a value that fails the check stays as sent and the event carries ``invalid_email`` /
``invalid_phone`` in ``quality_flags``. Then the normalised email (first) or phone is looked up in
the patient index and, when found, becomes the event's ``patient_reference``.
"""

from __future__ import annotations

from typing import Any

from dispatcher.events import NormalisedEvent
from dispatcher.patient_index import PatientIndex
from webhook_core.contacts import (
    INVALID_EMAIL,
    INVALID_PHONE,
    email_key,
    normalize_email,
    normalize_phone,
    phone_key,
)

CONTACT_OBJECT_TYPES = frozenset({"contact"})


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
    email = person.get("email")
    if isinstance(email, str) and email.strip():
        result = normalize_email(email)
        person["email"] = result.value
        if result.valid:
            keys.append(email_key(result.value))
        else:
            event.quality_flags.append(INVALID_EMAIL)
    elif email is not None and not isinstance(email, str):
        event.quality_flags.append(INVALID_EMAIL)
    phone = person.get("phone_number")
    if isinstance(phone, str) and phone.strip():
        result = normalize_phone(phone, region)
        person["phone_number"] = result.value
        if result.valid:
            keys.append(phone_key(result.value))
        else:
            event.quality_flags.append(INVALID_PHONE)
    elif phone is not None and not isinstance(phone, str):
        event.quality_flags.append(INVALID_PHONE)
    resources = dict(event.data["resources"])
    resources[name] = person
    event.data = {**event.data, "resources": resources}
    return keys


def link_patient(event: NormalisedEvent, index: PatientIndex, region: str) -> None:
    """Enrich the contact and set ``patient_reference`` when the index knows its email or phone."""
    keys = enrich_contact(event, region)
    if keys:
        event.patient_reference = index.lookup(keys)
