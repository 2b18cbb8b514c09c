"""Table tests of the pure decision after an attempt: succeeded, retry at T, or dead-letter with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.deliveries import DeliveryJobV1
from contracts.webhooks import RetryPolicy
from delivery_worker.decision import (
    DeadLetter,
    Decision,
    DecisionPolicy,
    RetryAt,
    Succeeded,
    decide,
    handler_error,
    record_too_large,
)
from webhook_core.outcome import classify
from webhook_core.sending import SendResult

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
POLICY = DecisionPolicy(
    RetryPolicy(max_attempts=3, initial_delay_ms=2000, multiplier=2.0, max_delay_ms=60_000, jitter=0.0),
    floor_s=1.0,
)
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


def sent(status: int | None, error: str | None = None, retry_after: str | None = None) -> SendResult:
    classification = classify(status, error)
    return SendResult(
        status_code=status,
        response_ms=5,
        response_body="",
        error_category=classification.category,
        error=None if classification.success else "x",
        retry_after=retry_after,
        classification=classification,
    )


def at(seconds: float) -> RetryAt:
    return RetryAt(NOW + timedelta(seconds=seconds), seconds)


@pytest.mark.parametrize(
    ("attempt", "outcome", "expected"),
    [
        (1, sent(200), Succeeded()),
        (3, sent(204), Succeeded()),  # the last attempt may succeed too
        (1, sent(500), at(2.0)),
        (2, sent(503), at(4.0)),
        (2, sent(503, retry_after="6"), at(6.0)),  # Retry-After within [scheduled, 2 x scheduled]
        (1, sent(429, retry_after="\u00b2"), at(2.0)),  # a hostile Retry-After is ignored, never raises
        (1, sent(429, retry_after="9" * 5000), at(2.0)),
        (1, sent(None, "timeout"), at(2.0)),
        (1, sent(None, "dns_error"), at(2.0)),
        (3, sent(500), DeadLetter("max_attempts", "gave up after 3 attempts")),
        (3, sent(None, "connection_error"), DeadLetter("max_attempts", "gave up after 3 attempts")),
        (1, sent(400), DeadLetter("non_retryable", "http_4xx is not retryable")),
        (1, sent(410), DeadLetter("non_retryable", "http_4xx is not retryable")),
        (1, sent(301), DeadLetter("non_retryable", "redirect is not retryable")),
        (1, sent(None, "ssrf_blocked"), DeadLetter("non_retryable", "ssrf_blocked is not retryable")),
        (1, sent(None, "invalid_config"), DeadLetter("non_retryable", "invalid_config is not retryable")),
    ],
)
def test_decide(attempt: int, outcome: SendResult, expected: Decision) -> None:
    job = JOB.model_copy(update={"attempt": attempt})
    assert decide(job, outcome, POLICY, NOW, rand=lambda: 0.5) == expected


def test_floor_applies_to_timeouts() -> None:
    tiny = DecisionPolicy(RetryPolicy(initial_delay_ms=10, max_delay_ms=100, jitter=0.0), floor_s=1.5)
    assert decide(JOB, sent(None, "timeout"), tiny, NOW) == at(1.5)


def test_worker_side_endings_name_their_reason() -> None:
    assert handler_error(KeyError("secret-ish value"), 3) == DeadLetter(
        "handler_error", "handling raised KeyError 3 times"
    )  # the type only: an exception's text may carry payload values
    assert record_too_large("retry hop", "job of 9 bytes").reason == "record_too_large"
