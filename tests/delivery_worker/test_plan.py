"""Pure builders of retry hops, dead letters and results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.deliveries import AttemptSummary, DeadLetterV1, DeliveryJobV1, DeliveryResultV1, ReplayInfo
from contracts.topics import Topics
from delivery_worker.plan import (
    RETRY_DUE_HEADER,
    dead_letter_publication,
    result_for,
    result_publication,
    retry_due_ms,
    retry_publication,
    with_attempt,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
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
    pub, _ = retry_publication(TOPICS, job, ORIGINAL, NOW)
    assert pub.topic == topic and pub.key == "w1"
    headers = dict(pub.headers)
    assert headers["integration-id"] == b"i1"
    assert [k for k, _ in pub.headers].count(RETRY_DUE_HEADER) == 1  # the old bookkeeping is replaced
    assert int(headers[RETRY_DUE_HEADER]) == int((NOW.timestamp() + due_after_s) * 1000)
    assert retry_due_ms(pub.headers, 0, 1) == int(headers[RETRY_DUE_HEADER])


def test_due_falls_back_to_record_time_plus_tier() -> None:
    assert retry_due_ms([], 5_000, 10) == 15_000
    assert retry_due_ms([(RETRY_DUE_HEADER, b"junk")], 5_000, 10) == 15_000


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
