"""The patient index: normalised email / E.164 phone -> ``Patient/<id>``, built from FHIR Patient events.

Every dispatcher instance holds the whole index in memory. An instance that sees a Patient event
updates its copy at once and publishes the changed entries on the compacted patient-index topic
(key = ``email:<x>`` / ``phone:<x>``, tombstone when a key no longer points at that patient); every
instance follows that topic, so all instances converge whichever of them consumed the Patient event.
When two Patients share an address, the most recent event wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import ValidationError

from contracts.events import PatientIndexEntryV1
from dispatcher.events import NormalisedEvent
from webhook_core.contacts import email_key, normalize_email, normalize_phone, phone_key

IndexUpdate = tuple[str, PatientIndexEntryV1 | None]
"""A key to publish and its new entry (None = tombstone)."""


def patient_contact_keys(resource: dict[str, object], region: str) -> set[str]:
    """Index keys of a Patient's telecom (system email -> email key; phone/sms -> E.164 key)."""
    keys: set[str] = set()
    telecom = resource.get("telecom")
    if not isinstance(telecom, list):
        return keys
    for point in telecom:
        if not isinstance(point, dict):
            continue
        value, system = point.get("value"), point.get("system")
        if not isinstance(value, str):
            continue
        if system == "email":
            email = normalize_email(value)
            if email.valid:
                keys.add(email_key(email.value))
        elif system in ("phone", "sms"):
            phone = normalize_phone(value, region)
            if phone.valid:
                keys.add(phone_key(phone.value))
    return keys


class PatientIndex:
    """In-memory index with a reverse map so changed and removed telecoms can be tombstoned."""

    def __init__(self) -> None:
        self.entries: dict[str, str] = {}
        self._by_patient: dict[str, set[str]] = {}
        self.invalid_records = 0

    def __len__(self) -> int:
        return len(self.entries)

    def set(self, key: str, patient_reference: str | None) -> None:
        """Point a key at a patient (None removes it)."""
        old = self.entries.pop(key, None)
        if old is not None:
            keys = self._by_patient.get(old)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_patient[old]
        if patient_reference is not None:
            self.entries[key] = patient_reference
            self._by_patient.setdefault(patient_reference, set()).add(key)

    def apply_record(self, key: str, value: bytes | None) -> None:
        """Apply one record of the patient-index topic."""
        if value is None:
            self.set(key, None)
            return
        try:
            entry = PatientIndexEntryV1.model_validate_json(value)
        except ValidationError:
            self.invalid_records += 1
            return
        self.set(key, entry.patient_reference)

    def lookup(self, keys: Iterable[str]) -> str | None:
        """The patient of the first key that is indexed."""
        for key in keys:
            found = self.entries.get(key)
            if found is not None:
                return found
        return None

    def update_from_patient(self, event: NormalisedEvent, region: str, now: datetime) -> list[IndexUpdate]:
        """Apply a FHIR Patient event locally; return the entries to publish for the other instances."""
        reference = f"Patient/{event.object_id}"
        wanted = set() if event.event_type == "Patient.delete" else patient_contact_keys(event.data, region)
        current = self._by_patient.get(reference, set())
        updates: list[IndexUpdate] = []
        for key in sorted(current - wanted):
            self.set(key, None)
            updates.append((key, None))
        for key in sorted(wanted):
            if self.entries.get(key) != reference:
                self.set(key, reference)
                updates.append(
                    (key, PatientIndexEntryV1(contact_key=key, patient_reference=reference, updated_at=now))
                )
        return updates
