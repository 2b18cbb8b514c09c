"""Header values as Kafka clients hand them over, and the one builder of job and invalid-event records."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from contracts.deliveries import DeliveryJobV1
from contracts.headers import header_int, header_text, headers_as_text, non_null_headers
from contracts.records import delivery_job_record, invalid_event
from webhook_core.payload_crypto import Payloads
from webhook_core.secrets_crypto import SecretBox

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PLAIN = Payloads(SecretBox(bytes(32)), encrypt=False)
JOB = DeliveryJobV1(
    delivery_id="d1",
    webhook_id="w1",
    integration_id="i1",
    event_id="e1",
    event_type="t",
    event_time=NOW,
    dispatched_at=NOW,
    body="{}",
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (b"", ""), (b"abc", "abc"), (b"\xff", "\ufffd"), ("é".encode(), "é")],
)
def test_header_text(value: bytes | None, expected: str | None) -> None:
    assert header_text(value) == expected


def test_headers_as_text_leaves_out_null_values() -> None:
    assert headers_as_text([("a", b"1"), ("b", None), ("c", b"")]) == {"a": "1", "c": ""}
    assert headers_as_text(None) == {}
    assert non_null_headers([("a", b"1"), ("b", None)]) == [("a", b"1")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"123", 123),
        (b" 42 ", 42),
        (b"-5", -5),
        (None, None),
        (b"", None),
        (b"\xff", None),
        ("\u00b2".encode(), None),
        ("\u0661".encode(), None),
        (b"9" * 5000, None),
        (b"1e3", None),
        (b"-", None),
    ],
)
def test_header_int(value: bytes | None, expected: int | None) -> None:
    assert header_int([("other", b"7"), ("n", value)], "n") == expected


def test_job_record_key_value_and_identifying_headers_first() -> None:
    record = delivery_job_record(JOB, [("integration-id", b"i1"), ("delivery-id", b"spoofed")], sealer=PLAIN)
    assert record.key == b"w1" and record.value == JOB.to_bytes()
    assert record.headers == [
        ("message-type", b"delivery_job.v1"),
        ("delivery-id", b"d1"),
        ("webhook-id", b"w1"),
        ("integration-id", b"i1"),
    ]  # an extra header cannot override the job's own identity
    assert delivery_job_record(JOB, {"x": "y"}, sealer=PLAIN).headers[-1] == ("x", b"y")


def test_invalid_event_truncates_and_tolerates_null_headers() -> None:
    event = invalid_event(
        source_topic="t",
        partition=1,
        offset=2,
        key=None,
        value=b"x" * 100,
        headers=[("h", None), ("g", b"v")],
        reason="r" * 5000,
        received_at=NOW,
        sealer=PLAIN,
        max_value_bytes=10,
    )
    assert base64.b64decode(event.value_b64) == b"x" * 10
    assert event.headers == {"g": "v"} and event.key_b64 is None
    assert len(event.reason) == 2000
