"""Building the records one job produces (pure): attempt results, retry hops and dead letters.

Every record is bounded below ``max_bytes`` (``DELIVERY_WORKER_MAX_RECORD_BYTES``, under the
producer's and the topics' message limit), because a record the broker refuses would be retried
for ever and hold the job's offset: a result whose encrypted body does not fit carries the body's
SHA-256 instead (``payload_sha256``); a retry hop or dead letter keeps the first and the latest
attempts of a long history; a job whose body alone is too large for a retry hop or a dead letter
ends with a ``record_too_large`` result (see :mod:`delivery_worker.decision`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic_core import to_json

from contracts.catalogs import CAREHOOKS_INTEGRATION
from contracts.deliveries import (
    AttemptSummary,
    CircuitState,
    DeadLetterV1,
    DeliveryJobV1,
    ErrorCategory,
    Outcome,
)
from contracts.events import DeliveryDeadLetteredV1
from contracts.headers import HeaderValue, header_int, headers_as_text, non_null_headers
from contracts.records import PayloadSealer, delivery_job_record
from contracts.topics import Headers, Topics
from delivery_worker.backoff import choose_tier, tier_wait
from delivery_worker.outbox import Publication

RETRY_DUE_HEADER = "retry-due-ms"
"""Unix milliseconds at which a record on a retry tier topic is due (set when it was put there)."""
RETRY_TIER_HEADER = "retry-tier"
INTERNAL_HEADERS = frozenset({RETRY_DUE_HEADER, RETRY_TIER_HEADER})
"""The worker's retry bookkeeping; not part of the job's original headers."""
DEFAULT_MAX_RECORD_BYTES = 4_000_000
"""Below the producer's 4 MiB ``max_request_size`` with room for the batch framing."""
KEPT_ATTEMPT_ERROR_CHARS = 300
_KEPT_LATEST_ATTEMPTS = 24
_MIN_EXCERPT_CHARS = 200

Headers_ = Sequence[tuple[str, HeaderValue]]


class RecordTooLargeError(ValueError):
    """A record cannot be bounded below the limit (a job body that alone is too large)."""


_DERIVED_HEADERS = frozenset({Headers.DELIVERY_ID, Headers.WEBHOOK_ID})
"""Set from the job by every job record (:func:`contracts.records.delivery_job_record`)."""


def original_headers(headers: Headers_) -> list[tuple[str, bytes]]:
    """The job's Kafka headers without the worker's own bookkeeping (headers without a value dropped)."""
    return [(k, v) for k, v in non_null_headers(headers) if k not in INTERNAL_HEADERS]


def letter_headers(headers: Headers_) -> list[tuple[str, bytes]]:
    """The headers a dead letter keeps: the original ones, without those derived from the job itself
    (the replayer sets them again from the job it republishes)."""
    return [(k, v) for k, v in original_headers(headers) if k not in _DERIVED_HEADERS]


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
        "payload_sha256": None,
        "replay_id": job.replay.replay_id if job.replay else None,
    }


def result_publication(
    topics: Topics,
    result: dict[str, Any],
    body: str | None = None,
    max_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    fallback: Callable[[], Publication] | None = None,
) -> Publication:
    """The result record (key = webhook id), JSON as pydantic would write it (same datetime format).

    Over ``max_bytes``: the encrypted body gives way to its SHA-256, then the excerpt and the
    error message are shortened.
    """
    value = to_json(result)
    if len(value) > max_bytes:
        sha = body_sha256(body) if body is not None else result["payload_sha256"]
        result = {**result, "payload_encrypted": None, "payload_sha256": sha}
        value = to_json(result)
        for field in ("response_body_excerpt", "error_message"):
            text = result[field]
            if len(value) > max_bytes and text and len(text) > _MIN_EXCERPT_CHARS:
                result[field] = text[:_MIN_EXCERPT_CHARS]
                value = to_json(result)
    return Publication(topics.delivery_results, result["webhook_id"], value, fallback=fallback)


def body_sha256(body: str) -> str:
    """Reference of a body not carried in a record."""
    return hashlib.sha256(body.encode()).hexdigest()


def bounded_job(job: DeliveryJobV1, max_bytes: int) -> tuple[DeliveryJobV1, bytes]:
    """The job and its bytes, its attempt history thinned (first + latest) until it fits.

    Raises :class:`RecordTooLargeError` when even the job without history does not fit.
    """
    value = job.to_bytes()
    if len(value) <= max_bytes:
        return job, value
    history = job.attempts
    for keep in (_KEPT_LATEST_ATTEMPTS, 4, 1, 0):
        if keep == 0:
            kept: list[AttemptSummary] = []
        elif len(history) > keep + 1:
            kept = [history[0], *history[-keep:]]
        else:
            kept = list(history)
        job = job.model_copy(update={"attempts": kept})
        value = job.to_bytes()
        if len(value) <= max_bytes:
            return job, value
    raise RecordTooLargeError(f"delivery job of {len(value)} bytes exceeds the {max_bytes}-byte record limit")


def retry_publication(
    topics: Topics,
    job: DeliveryJobV1,
    headers: Headers_,
    now: datetime,
    sealer: PayloadSealer,
    max_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> tuple[Publication, int]:
    """The job on the retry tier matching its remaining wait (``job.not_before``), and that tier.

    The job travels sealed by ``sealer`` (its size is bounded sealed). Raises
    :class:`RecordTooLargeError` when the job cannot be bounded below ``max_bytes``.
    """
    job = sealer.seal(job)
    due_at = job.not_before or now
    remaining = (due_at - now).total_seconds()
    tier = choose_tier(remaining, topics.retry_tiers_s)
    due_ms = int((now + timedelta(seconds=tier_wait(remaining, tier))).timestamp() * 1000)
    bounded, value = bounded_job(job, max_bytes - _headers_size(headers) - 128)
    record = delivery_job_record(
        bounded,
        [
            *original_headers(headers),
            (RETRY_DUE_HEADER, str(due_ms).encode()),
            (RETRY_TIER_HEADER, str(tier).encode()),
        ],
        sealer=sealer,
        value=value,
    )
    return Publication(topics.retry_topics()[tier], job.webhook_id, record.value, record.headers), tier


def with_attempt(job: DeliveryJobV1, summary: AttemptSummary, next_at: datetime | None) -> DeliveryJobV1:
    """The job after a failed attempt: history extended, next attempt numbered and scheduled."""
    if summary.error is not None and len(summary.error) > KEPT_ATTEMPT_ERROR_CHARS:
        summary = summary.model_copy(update={"error": summary.error[:KEPT_ATTEMPT_ERROR_CHARS]})
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
    headers: Headers_,
    now: datetime,
    max_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> Publication:
    """The dead letter: the job with its attempt history, the final reason and the original headers.

    ``job`` must be sealed already (``Payloads.seal``): the letter carries it as it is. Raises :class:`RecordTooLargeError` when the job cannot be bounded below ``max_bytes``.
    """
    kept = letter_headers(headers)
    text_headers = headers_as_text(kept)
    overhead = 1024 + len(reason) + 2 * _headers_size(kept)
    bounded, _ = bounded_job(job, max_bytes - overhead)
    letter = DeadLetterV1(
        job=bounded,
        reason=reason,
        final_error_category=category,
        final_status_code=status_code,
        dead_lettered_at=now,
        original_headers=text_headers,
    )
    return Publication(topics.deliveries_dlq, job.webhook_id, letter.to_bytes(), kept)


def dead_letter_notice(
    topics: Topics,
    job: DeliveryJobV1,
    reason: str,
    category: ErrorCategory | None,
    status_code: int | None,
    now: datetime,
) -> Publication | None:
    """The ``delivery_dead_lettered.v1`` record on ``webhooks.ops`` (ids and reason, never the body).

    None for a job of an operational webhook (integration ``carehooks``): its failures must never feed
    operational events about themselves (no loops).
    """
    if job.integration_id == CAREHOOKS_INTEGRATION:
        return None
    notice = DeliveryDeadLetteredV1(
        delivery_id=job.delivery_id,
        webhook_id=job.webhook_id,
        integration_id=job.integration_id,
        event_id=job.event_id,
        event_type=job.event_type,
        attempts=len(job.attempts),
        reason=reason,
        final_error_category=category,
        final_status_code=status_code,
        dead_lettered_at=now,
    )
    return Publication(
        topics.ops, job.webhook_id, notice.to_bytes(), [("message-type", notice.type.encode())]
    )


def retry_due_ms(
    headers: Headers_ | None, record_timestamp_ms: int, tier_s: int, first_seen_ms: float | None = None
) -> int:
    """When a record on a retry tier topic is due: its header, else its timestamp plus the tier.

    A missing, null or garbled header counts as absent: the record is due a tier after it was written.
    Never later than a tier after it was written, nor a tier after the worker first held it back
    (``first_seen_ms``): the retry hop writes a due time within its tier, so a later one (a hostile or
    broken producer, a timestamp from the future) would otherwise pause the tier partition, and every
    retry behind it, for as long as it says.
    """
    latest = record_timestamp_ms
    if first_seen_ms is not None:
        latest = min(latest, int(first_seen_ms))
    latest += tier_s * 1000
    due = header_int(headers, RETRY_DUE_HEADER)
    return latest if due is None else min(due, latest)


def _headers_size(headers: Headers_) -> int:
    return sum(len(k) + len(v or b"") + 8 for k, v in headers)
