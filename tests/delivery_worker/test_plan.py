"""Pure builders of retry hops, dead letters and results."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.catalogs import CAREHOOKS_INTEGRATION
from contracts.deliveries import AttemptSummary, DeadLetterV1, DeliveryJobV1, DeliveryResultV1, ReplayInfo
from contracts.events import DeliveryDeadLetteredV1
from contracts.topics import Topics
from delivery_worker.plan import (
    KEPT_ATTEMPT_ERROR_CHARS,
    RETRY_DUE_HEADER,
    RecordTooLargeError,
    dead_letter_notice,
    dead_letter_publication,
    result_for,
    result_publication,
    retry_due_ms,
    retry_publication,
    with_attempt,
)
from webhook_core.payload_crypto import Payloads
from webhook_core.secrets_crypto import SecretBox

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PLAIN = Payloads(SecretBox(bytes(32)), encrypt=False)
TOPICS = Topics().with_prefix("p.")
JOB = DeliveryJobV1(
    delivery_id="d1",
    webhook_id="w1",
    integration_id="i1",
    event_id="e1",
    event_type="response_completed",
    event_time=NOW,
    dispatched_at=NOW,
    body="{}",
)
ORIGINAL = [("integration-id", b"i1"), (RETRY_DUE_HEADER, b"1"), ("retry-tier", b"1")]


@pytest.mark.parametrize(
    ("wait_s", "topic", "due_after_s"),
    [
        (0.2, "p.webhooks.deliveries.retry.1s", 0.2),
        (45, "p.webhooks.deliveries.retry.10s", 10),
        (7200, "p.webhooks.deliveries.retry.3600s", 3600),
    ],
)
def test_retry_hop_goes_to_the_fitting_tier(wait_s: float, topic: str, due_after_s: float) -> None:
    job = JOB.model_copy(update={"not_before": NOW + timedelta(seconds=wait_s)})
    pub, tier = retry_publication(TOPICS, job, ORIGINAL, NOW, PLAIN)
    assert pub.topic == topic and pub.key == "w1"
    headers = dict(pub.headers)
    assert headers["integration-id"] == b"i1"
    assert [k for k, _ in pub.headers].count(RETRY_DUE_HEADER) == 1  # the old bookkeeping is replaced
    assert int(headers[RETRY_DUE_HEADER]) == int((NOW.timestamp() + due_after_s) * 1000)
    # Written now, due within its tier: the due time is read back as written.
    assert retry_due_ms(pub.headers, int(NOW.timestamp() * 1000), tier) == int(headers[RETRY_DUE_HEADER])


def test_due_falls_back_to_record_time_plus_tier() -> None:
    assert retry_due_ms([], 5_000, 10) == 15_000
    assert retry_due_ms([(RETRY_DUE_HEADER, b"junk")], 5_000, 10) == 15_000


@pytest.mark.parametrize(
    ("header", "timestamp_ms", "first_seen_ms", "due_ms"),
    [
        (b"12000", 5_000, None, 12_000),  # within the tier: as written
        (b"9" * 19, 5_000, None, 15_000),  # far future: a tier after it was written
        (b"-1", 5_000, None, -1),  # in the past: due now
        (None, 10**15, None, 10**15 + 10_000),  # a timestamp from the future...
        (None, 10**15, 7_000, 17_000),  # ...waits a tier after the worker first held it back
        (b"16000", 5_000, 3_000, 13_000),
    ],
)
def test_a_due_time_is_never_more_than_a_tier_away(
    header: bytes | None, timestamp_ms: int, first_seen_ms: int | None, due_ms: int
) -> None:
    headers = [(RETRY_DUE_HEADER, header)] if header is not None else []
    assert retry_due_ms(headers, timestamp_ms, 10, first_seen_ms) == due_ms


def test_dead_letter_carries_history_and_original_headers() -> None:
    summary = AttemptSummary(
        attempt=1, attempted_at=NOW, outcome="failed", status_code=500, error_category="http_5xx"
    )
    final = with_attempt(JOB, summary, None)
    assert final.attempt == 1 and final.not_before is None and final.attempts == [summary]
    pub = dead_letter_publication(TOPICS, final, "gave up", "http_5xx", 500, ORIGINAL, NOW)
    letter = DeadLetterV1.model_validate_json(pub.value)
    assert pub.topic == "p.webhooks.deliveries.dlq"
    assert letter.original_headers == {"integration-id": "i1"}
    assert letter.job.attempts[0].status_code == 500
    retry = with_attempt(JOB, summary, NOW)
    assert retry.attempt == 2 and retry.not_before == NOW


def _built(result: dict[str, Any]) -> DeliveryResultV1:
    return DeliveryResultV1.model_validate_json(result_publication(TOPICS, result).value)


def test_result_fields() -> None:
    job = JOB.model_copy(update={"attempt": 3, "replay": ReplayInfo(replay_id="r9", requested_by="ops")})
    res = _built(result_for(job, "succeeded", NOW, status_code=200, response_body=""))
    assert (res.attempt, res.replay_id, res.response_body_excerpt, res.circuit_state) == (
        3,
        "r9",
        None,
        "closed",
    )


def test_result_builder_sets_exactly_the_contract_fields() -> None:
    # A field added to delivery_result.v1 must be added to the builder too (or this fails).
    assert set(result_for(JOB, "succeeded", NOW)) == set(DeliveryResultV1.model_fields)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"outcome": "succeeded", "status_code": 200, "response_ms": 12, "response_body": "ok"},
        {
            "outcome": "retrying",
            "status_code": 503,
            "error_category": "http_5xx",
            "error_message": "HTTP 503",
            "next_attempt_at": NOW,
            "circuit_state": "half_open",
            "payload_encrypted": "v1.abc",
        },
        {"outcome": "dead_lettered", "status_code": 410, "error_category": "http_4xx", "gone": True},
        {"outcome": "cancelled", "error_category": "cancelled", "error_message": "webhook deleted"},
    ],
)
def test_results_built_without_validation_are_valid(kwargs: dict[str, Any]) -> None:
    # result_for skips pydantic on the hot path: what it builds must pass validation, field for field.
    args = dict(kwargs)
    outcome = args.pop("outcome")
    fields = result_for(JOB, outcome, NOW, **args)
    pub = result_publication(TOPICS, fields)
    assert pub.topic == TOPICS.delivery_results and pub.key == JOB.webhook_id
    assert DeliveryResultV1.model_validate_json(pub.value) == DeliveryResultV1.model_validate(fields)
    assert DeliveryResultV1.model_validate_json(pub.value).model_dump() == fields


@pytest.mark.parametrize(
    "headers",
    [
        [(RETRY_DUE_HEADER, None)],  # aiokafka hands None for a header without a value
        [(RETRY_DUE_HEADER, b"")],
        [(RETRY_DUE_HEADER, b"\xff\xfe")],
        [(RETRY_DUE_HEADER, "\u00b2".encode())],
        [(RETRY_DUE_HEADER, b"9" * 5000)],
        [(RETRY_DUE_HEADER, b"12.5")],
        None,
    ],
)
def test_a_null_or_garbled_due_header_counts_as_absent(headers: Any) -> None:
    assert retry_due_ms(headers, 5_000, 10) == 15_000


def test_null_header_values_are_dropped_not_decoded() -> None:
    headers = [("integration-id", b"i1"), ("empty", None), ("bin", b"\xff")]
    pub, _ = retry_publication(TOPICS, JOB.model_copy(update={"not_before": NOW}), headers, NOW, PLAIN)
    assert ("empty", None) not in pub.headers and ("bin", b"\xff") in pub.headers
    letter_pub = dead_letter_publication(TOPICS, JOB, "r", None, None, headers, NOW)
    letter = DeadLetterV1.model_validate_json(letter_pub.value)
    assert letter.original_headers == {"integration-id": "i1", "bin": "\ufffd"}


def _summary(n: int) -> AttemptSummary:
    return AttemptSummary(attempt=n, attempted_at=NOW, outcome="failed", status_code=500, error="e" * 300)


def test_records_stay_under_the_limit_history_thinned_first_and_latest_kept() -> None:
    job = JOB.model_copy(update={"attempts": [_summary(n) for n in range(1, 26)], "body": "x" * 2000})
    limit = 6_000
    pub, _ = retry_publication(TOPICS, job, ORIGINAL, NOW, PLAIN, max_bytes=limit)
    assert len(pub.value) <= limit
    kept = [a.attempt for a in DeliveryJobV1.model_validate_json(pub.value).attempts]
    assert kept[0] == 1 and kept[-1] == 25 and len(kept) < 25
    letter = dead_letter_publication(TOPICS, job, "r", None, None, ORIGINAL, NOW, max_bytes=limit)
    assert len(letter.value) <= limit


def test_a_body_too_large_for_any_record_raises_record_too_large() -> None:
    job = JOB.model_copy(update={"body": "x" * 10_000})
    with pytest.raises(RecordTooLargeError):
        retry_publication(TOPICS, job, ORIGINAL, NOW, PLAIN, max_bytes=5_000)
    with pytest.raises(RecordTooLargeError):
        dead_letter_publication(TOPICS, job, "r", None, None, ORIGINAL, NOW, max_bytes=5_000)


def test_a_result_too_large_carries_the_body_hash_instead_of_the_body() -> None:
    body = "x" * 10_000
    job = JOB.model_copy(update={"body": body})
    res = result_for(job, "succeeded", NOW, response_body="y" * 1024, payload_encrypted="z" * 14_000)
    pub = result_publication(TOPICS, res, body, max_bytes=4_000)
    assert len(pub.value) <= 4_000
    built = DeliveryResultV1.model_validate_json(pub.value)
    assert built.payload_encrypted is None
    assert built.payload_sha256 == hashlib.sha256(body.encode()).hexdigest()
    small = result_publication(TOPICS, res, body, max_bytes=100_000)
    assert DeliveryResultV1.model_validate_json(small.value).payload_sha256 is None  # fits: unchanged


def test_attempt_errors_are_capped_on_the_job() -> None:
    job = with_attempt(JOB, _summary(1).model_copy(update={"error": "e" * 5000}), NOW)
    assert len(job.attempts[0].error or "") == KEPT_ATTEMPT_ERROR_CHARS


def test_a_dead_letter_is_announced_on_ops_without_the_body_except_for_operational_webhooks() -> None:
    summary = AttemptSummary(
        attempt=1, attempted_at=NOW, outcome="failed", status_code=410, error_category="http_4xx"
    )
    final = with_attempt(JOB.model_copy(update={"body": '{"secret": "phi"}'}), summary, None)
    pub = dead_letter_notice(TOPICS, final, "http_4xx is not retryable", "http_4xx", 410, NOW)
    assert pub is not None
    assert (pub.topic, pub.key) == ("p.webhooks.ops", "w1")
    notice = DeliveryDeadLetteredV1.model_validate_json(pub.value)
    assert (notice.delivery_id, notice.webhook_id, notice.integration_id) == ("d1", "w1", "i1")
    assert (notice.attempts, notice.final_status_code, notice.reason) == (1, 410, "http_4xx is not retryable")
    assert b"phi" not in pub.value
    ops_job = final.model_copy(update={"integration_id": CAREHOOKS_INTEGRATION})
    assert dead_letter_notice(TOPICS, ops_job, "gave up", "http_4xx", 410, NOW) is None  # no loops
