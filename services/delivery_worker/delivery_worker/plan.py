"""Building the records one job produces (pure): attempt results, retry hops and dead letters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic_core import to_json

from contracts.deliveries import (
    AttemptSummary,
    CircuitState,
    DeadLetterV1,
    DeliveryJobV1,
    ErrorCategory,
    Outcome,
)
from contracts.topics import Topics
from delivery_worker.backoff import choose_tier, tier_wait
from delivery_worker.outbox import Publication

RETRY_DUE_HEADER = "retry-due-ms"
"""Unix milliseconds at which a record on a retry tier topic is due (set when it was put there)."""
RETRY_TIER_HEADER = "retry-tier"
INTERNAL_HEADERS = frozenset({RETRY_DUE_HEADER, RETRY_TIER_HEADER})


def original_headers(headers: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The job's Kafka headers without the worker's own retry bookkeeping."""
    return [(k, v) for k, v in headers if k not in INTERNAL_HEADERS]


def headers_as_text(headers: Sequence[tuple[str, bytes]]) -> dict[str, str]:
    """Kafka headers as text (for the dead letter)."""
    return {k: v.decode("utf-8", errors="replace") for k, v in headers}


def result_for(
    job: DeliveryJobV1,
    outcome: Outcome,
    attempted_at: datetime,
    *,
    status_code: int | None = None,
    error_category: ErrorCategory | None = None,
    error_message: str | None = None,
    response_ms: int | None = None,
    response_body: str | None = None,
    next_attempt_at: datetime | None = None,
    circuit_state: CircuitState = "closed",
    gone: bool = False,
    payload_encrypted: str | None = None,
) -> dict[str, Any]:
    """The fields of the ``delivery_result.v1`` of one attempt, cancel, deferral or dead-letter.

    A plain dict, serialised by :func:`result_publication` without building the model (one per
    delivery, on the hot path: constructing and dumping the model took four times as long). Every
    value comes from the validated job, the classified send result or the worker's own UTC clock;
    the tests check that the keys are exactly the model's fields and that what is built validates.
    """
    return {
        "type": "delivery_result.v1",
        "delivery_id": job.delivery_id,
        "webhook_id": job.webhook_id,
        "integration_id": job.integration_id,
        "event_id": job.event_id,
        "event_type": job.event_type,
        "object_type": job.object_type,
        "object_id": job.object_id,
        "attempt": job.attempt,
        "outcome": outcome,
        "status_code": status_code,
        "error_category": error_category,
        "error_message": error_message,
        "response_ms": response_ms,
        "response_body_excerpt": response_body or None,
        "attempted_at": attempted_at,
        "next_attempt_at": next_attempt_at,
        "circuit_state": circuit_state,
        "gone": gone,
        "payload_encrypted": payload_encrypted,
        "replay_id": job.replay.replay_id if job.replay else None,
    }


def result_publication(topics: Topics, result: dict[str, Any]) -> Publication:
    """The result record (key = webhook id), JSON as pydantic would write it (same datetime format)."""
    return Publication(topics.delivery_results, result["webhook_id"], to_json(result))


def retry_publication(
    topics: Topics, job: DeliveryJobV1, headers: Sequence[tuple[str, bytes]], now: datetime
) -> tuple[Publication, int]:
    """The job on the retry tier matching its remaining wait (``job.not_before``), and that tier."""
    due_at = job.not_before or now
    remaining = (due_at - now).total_seconds()
    tier = choose_tier(remaining, topics.retry_tiers_s)
    due_ms = int((now + timedelta(seconds=tier_wait(remaining, tier))).timestamp() * 1000)
    record_headers = [
        *original_headers(headers),
        (RETRY_DUE_HEADER, str(due_ms).encode()),
        (RETRY_TIER_HEADER, str(tier).encode()),
    ]
    return Publication(topics.retry_topics()[tier], job.webhook_id, job.to_bytes(), record_headers), tier


def with_attempt(job: DeliveryJobV1, summary: AttemptSummary, next_at: datetime | None) -> DeliveryJobV1:
    """The job after a failed attempt: history extended, next attempt numbered and scheduled."""
    return job.model_copy(
        update={
            "attempts": [*job.attempts, summary],
            "attempt": job.attempt + 1 if next_at is not None else job.attempt,
            "not_before": next_at,
        }
    )


def dead_letter_publication(
    topics: Topics,
    job: DeliveryJobV1,
    reason: str,
    category: ErrorCategory | None,
    status_code: int | None,
    headers: Sequence[tuple[str, bytes]],
    now: datetime,
) -> Publication:
    """The dead letter: the job with its full attempt history, the final reason and the original headers."""
    letter = DeadLetterV1(
        job=job,
        reason=reason,
        final_error_category=category,
        final_status_code=status_code,
        dead_lettered_at=now,
        original_headers=headers_as_text(original_headers(headers)),
    )
    return Publication(topics.deliveries_dlq, job.webhook_id, letter.to_bytes(), original_headers(headers))


def retry_due_ms(headers: Sequence[tuple[str, bytes]], record_timestamp_ms: int, tier_s: int) -> int:
    """When a record on a retry tier topic is due (its header, else its timestamp plus the tier)."""
    for key, value in headers:
        if key == RETRY_DUE_HEADER:
            try:
                return int(value)
            except ValueError:
                break
    return record_timestamp_ms + tier_s * 1000
