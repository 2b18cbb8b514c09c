"""Job bodies and invalid-record copies encrypted for Kafka (contract + webhook_core.payload_crypto)."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from contracts.deliveries import DeadLetterV1, DeliveryJobV1, SealedBodyError, payload_context
from contracts.events import InvalidEventV1
from contracts.records import MAX_INVALID_VALUE_BYTES, delivery_job_record, invalid_event
from webhook_core.payload_crypto import PayloadDecryptionError, Payloads
from webhook_core.secrets_crypto import SecretBox

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MARKER = "patient-marker-7f3a@example.org"
BOX = SecretBox(os.urandom(32))
SEALING = Payloads(BOX)
PLAIN = Payloads(BOX, encrypt=False)


def job(delivery_id: str = "d1", body: str = json.dumps({"email": MARKER})) -> DeliveryJobV1:
    return DeliveryJobV1(
        delivery_id=delivery_id,
        webhook_id="w1",
        integration_id="i1",
        event_id="e1",
        event_type="response_completed",
        event_time=NOW,
        dispatched_at=NOW,
        body=body,
    )


def test_sealed_job_carries_no_plaintext_and_opens_to_the_exact_body() -> None:
    original = job()
    record = delivery_job_record(original, sealer=SEALING)
    assert MARKER.encode() not in record.value
    wire = json.loads(record.value)
    assert "body" not in wire and wire["body_encrypted"].startswith("v1.")
    parsed = DeliveryJobV1.model_validate_json(record.value)
    with pytest.raises(SealedBodyError):
        _ = parsed.body_text
    opened = SEALING.open(parsed)
    assert opened.body_text == original.body
    # An opened job travels again with the ciphertext it came with, never its plaintext.
    assert SEALING.seal(opened).to_bytes() == record.value
    letter = DeadLetterV1(job=SEALING.seal(opened), reason="r", dead_lettered_at=NOW).to_bytes()
    assert MARKER.encode() not in letter
    assert SEALING.open_letter(DeadLetterV1.model_validate_json(letter)).job.body_text == original.body
    with pytest.raises(ValidationError):  # an opened job (both forms) is never put in a record as is
        DeadLetterV1(job=opened, reason="r", dead_lettered_at=NOW)


def test_job_ciphertext_is_the_results_scheme() -> None:
    sealed = SEALING.seal(job())
    assert sealed.body_encrypted is not None
    assert BOX.decrypt(sealed.body_encrypted, payload_context("d1")) == job().body


def test_encryption_off_writes_plaintext_and_decrypts_what_it_finds() -> None:
    record = delivery_job_record(job(), sealer=PLAIN)
    assert json.loads(record.value)["body"] == job().body and b"body_encrypted" not in record.value
    sealed = DeliveryJobV1.model_validate_json(delivery_job_record(job(), sealer=SEALING).value)
    # A replay with encryption off of a job sealed earlier: plaintext again, same body.
    assert json.loads(delivery_job_record(sealed, sealer=PLAIN).value)["body"] == job().body


def test_old_plaintext_job_still_reads() -> None:
    old = json.loads(job().to_bytes())
    assert "body_encrypted" not in old
    assert SEALING.open(DeliveryJobV1.model_validate(old)).body_text == job().body


@pytest.mark.parametrize(
    "fields",
    [{}, {"body": "{}", "body_encrypted": "v1.x"}],
    ids=["neither", "both"],
)
def test_exactly_one_body_form(fields: dict[str, str]) -> None:
    doc = json.loads(job().to_bytes())
    del doc["body"]
    with pytest.raises(ValidationError, match="exactly one of body and body_encrypted"):
        DeliveryJobV1.model_validate({**doc, **fields})


def test_body_moved_to_another_delivery_or_tampered_does_not_open() -> None:
    sealed = SEALING.seal(job("d1"))
    moved = sealed.model_copy(update={"delivery_id": "d2"})
    with pytest.raises(PayloadDecryptionError, match="delivery d2: body_encrypted does not decrypt") as info:
        SEALING.open(moved)
    assert MARKER not in str(info.value)
    token = sealed.body_encrypted or ""
    flipped = token[:-4] + ("A" if token[-4] != "A" else "B") + token[-3:]
    with pytest.raises(PayloadDecryptionError):
        SEALING.open(sealed.model_copy(update={"body_encrypted": flipped}))
    with pytest.raises(PayloadDecryptionError):
        Payloads(SecretBox(os.urandom(32))).open(sealed)


def test_invalid_record_value_is_capped_encrypted_and_bound_to_its_source() -> None:
    value = (MARKER * 40_000).encode()
    event = invalid_event(
        source_topic="t", partition=1, offset=7, key=b"k", value=value, headers=[],
        reason="bad", received_at=NOW, sealer=SEALING, max_value_bytes=10_000_000,
    )  # fmt: skip
    raw = event.to_bytes()
    assert MARKER.encode() not in raw and b"value_b64" not in raw
    assert "truncated to its first" in event.reason
    parsed = InvalidEventV1.model_validate_json(raw)
    assert SEALING.invalid_value(parsed) == value[:MAX_INVALID_VALUE_BYTES]
    with pytest.raises(PayloadDecryptionError):
        SEALING.invalid_value(parsed.model_copy(update={"offset": 8}))
    plain = invalid_event(
        source_topic="t", partition=1, offset=7, key=None, value=b"\x00bin",
        headers=None, reason="bad", received_at=NOW, sealer=PLAIN,
    )  # fmt: skip
    assert base64.b64decode(json.loads(plain.to_bytes())["value_b64"]) == b"\x00bin"
    assert SEALING.invalid_value(plain) == b"\x00bin"
