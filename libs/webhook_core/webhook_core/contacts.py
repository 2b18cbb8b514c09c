"""Contact normalisation shared by the dispatcher's enrichment and its patient index.

An email is trimmed and lower-cased, then checked against a conservative syntax (one ``@``, a dotted
domain of LDH labels, no spaces); a phone number is parsed with ``phonenumbers`` (Google's
libphonenumber metadata) and written in E.164. A value that fails stays as it was and yields a quality
flag: contacts are flagged, never dropped. Both sides of a patient link (SurveyMonkey contact and
FHIR Patient telecom) go through the same functions, so equal keys mean the same address/number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

DEFAULT_REGION = "US"
"""Region used for numbers written without a country code (SurveyMonkey's own default)."""

_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")

INVALID_EMAIL = "invalid_email"
INVALID_PHONE = "invalid_phone"


@dataclass(frozen=True)
class Normalised:
    """A normalised value, or the original one with ``valid`` False."""

    value: str
    valid: bool


def normalize_email(raw: str) -> Normalised:
    """Trim and lower-case an email address and check its syntax (no DNS lookup)."""
    text = raw.strip().lower()
    local, at, domain = text.rpartition("@")
    ok = (
        bool(at)
        and len(text) <= 254
        and _LOCAL.fullmatch(local) is not None
        and not local.startswith(".")
        and not local.endswith(".")
        and ".." not in local
        and "." in domain
        and all(_LABEL.fullmatch(label) for label in domain.split("."))
        and not domain.rsplit(".", 1)[-1].isdigit()
    )
    return Normalised(text if ok else raw, ok)


def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> Normalised:
    """Parse a phone number and format it as E.164 (``+14155550123``)."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return Normalised(raw, False)
    if not phonenumbers.is_valid_number(number):
        return Normalised(raw, False)
    return Normalised(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), True)


def email_key(email: str) -> str:
    """Patient-index key of a (normalised) email."""
    return f"email:{email}"


def phone_key(phone: str) -> str:
    """Patient-index key of an E.164 phone number."""
    return f"phone:{phone}"
