"""Email and phone normalisation (pure, table-tested)."""

from __future__ import annotations

import pytest

from webhook_core.contacts import normalize_email, normalize_phone


@pytest.mark.parametrize(
    ("raw", "value", "valid"),
    [
        ("Jane.Doe@Example.ORG", "jane.doe@example.org", True),
        ("  bob+tag@mail.example.co.uk ", "bob+tag@mail.example.co.uk", True),
        ("no-at-sign.example.org", "no-at-sign.example.org", False),
        ("two@@example.org", "two@@example.org", False),
        ("a b@example.org", "a b@example.org", False),
        ("x@localhost", "x@localhost", False),
        ("x@-bad.org", "x@-bad.org", False),
        (".x@example.org", ".x@example.org", False),
        ("x..y@example.org", "x..y@example.org", False),
        ("x@1.2.3.4", "x@1.2.3.4", False),
        ("", "", False),
    ],
)
def test_email(raw: str, value: str, valid: bool) -> None:
    result = normalize_email(raw)
    assert (result.value, result.valid) == (value, valid)


@pytest.mark.parametrize(
    ("raw", "value", "valid"),
    [
        ("(415) 555-0132", "+14155550132", True),
        ("+1 415 555 0132", "+14155550132", True),
        ("415.555.0132", "+14155550132", True),
        ("+44 20 7946 0958", "+442079460958", True),
        ("+49 30 901820", "+4930901820", True),
        ("12", "12", False),
        ("not a number", "not a number", False),
        ("+1 000 000 0000", "+1 000 000 0000", False),
    ],
)
def test_phone(raw: str, value: str, valid: bool) -> None:
    result = normalize_phone(raw)
    assert (result.value, result.valid) == (value, valid)


def test_phone_region() -> None:
    assert normalize_phone("020 7946 0958", "GB").value == "+442079460958"
