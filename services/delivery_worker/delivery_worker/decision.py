"""What follows an attempt (pure): succeeded, retry at a time, or dead-letter with a reason.

Table-tested in ``tests/delivery_worker/test_decision.py``; :class:`~delivery_worker.delivery.Deliverer`
turns the decision into records, metrics and a log line.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from contracts.deliveries import DeliveryJobV1
from contracts.webhooks import RetryPolicy
from delivery_worker.backoff import next_delay
from webhook_core.sending import SendResult

DeadLetterReason = Literal["max_attempts", "non_retryable", "handler_error", "record_too_large"]
HANDLER_ERROR_LIMIT = 3
"""Unexpected exceptions while handling one job before it is dead-lettered (``handler_error``)."""


@dataclass(frozen=True)
class Succeeded:
    """The receiver accepted the delivery."""


@dataclass(frozen=True)
class RetryAt:
    """Try again at ``at`` (``delay_s`` after the attempt)."""

    at: datetime
    delay_s: float


@dataclass(frozen=True)
class DeadLetter:
    """Give up: ``reason`` is the metric label, ``text`` the dead letter's reason."""

    reason: DeadLetterReason
    text: str


Decision = Succeeded | RetryAt | DeadLetter


@dataclass(frozen=True)
class DecisionPolicy:
    """The webhook's retry policy and the worker's floor after timeouts and 429."""

    retry: RetryPolicy
    floor_s: float = 1.0


def decide(
    job: DeliveryJobV1,
    outcome: SendResult,
    policy: DecisionPolicy,
    now: datetime,
    rand: Callable[[], float] = random.random,
) -> Decision:
    """The decision after attempt ``job.attempt`` ended with ``outcome``."""
    if outcome.success:
        return Succeeded()
    if not outcome.classification.retryable:
        return DeadLetter("non_retryable", f"{outcome.error_category} is not retryable")
    if job.attempt >= policy.retry.max_attempts:
        return DeadLetter("max_attempts", f"gave up after {job.attempt} attempts")
    delay = next_delay(
        job.attempt,
        policy.retry,
        error_category=outcome.error_category,
        status_code=outcome.status_code,
        retry_after=outcome.retry_after,
        now=now,
        floor_s=policy.floor_s,
        rand=rand,
    )
    return RetryAt(now + timedelta(seconds=delay), delay)


def handler_error(exc: BaseException, times: int) -> DeadLetter:
    """The dead letter of a job whose handling raised unexpectedly ``times`` times (names the type only)."""
    return DeadLetter("handler_error", f"handling raised {type(exc).__name__} {times} times")


def record_too_large(what: str, detail: str) -> DeadLetter:
    """The end of a job whose retry hop or dead letter cannot be bounded below the record limit."""
    return DeadLetter("record_too_large", f"{what} too large: {detail}")
