"""Retry timing (pure): the next delay of a failed attempt and the retry tier a waiting job goes to.

Delay before attempt ``n + 1`` after attempt ``n`` failed::

    scheduled = min(max_delay, initial_delay * multiplier ** (n - 1)) * (1 ± jitter), capped at max_delay

A ``Retry-After`` (seconds or HTTP date) on 429/503 moves the delay within
``[scheduled, min(2 * scheduled, max_delay)]``: the receiver may slow us down, never stall a job
for ever nor speed it up. Timeouts and 429 get a floor (1 s by default) so an overloaded receiver
is not hit again at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime

from contracts.deliveries import ErrorCategory
from contracts.webhooks import RetryPolicy

_RETRY_AFTER_STATUSES = frozenset({429, 503})
MAX_RETRY_AFTER_S = 86_400.0
"""Longest ``Retry-After`` taken into account (a day); the policy's ``max_delay`` caps it further."""
_MAX_RETRY_AFTER_CHARS = 64
"""An HTTP date is under 40 characters and a day in seconds is 5 digits: anything longer is garbage."""
_FLOORED = frozenset({"timeout", "http_429"})


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), at most
    :data:`MAX_RETRY_AFTER_S`; None when absent or invalid. Never raises: the value comes from a
    receiver, after the request was sent (an exception here would re-send without an attempt)."""
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > _MAX_RETRY_AFTER_CHARS or not text.isascii():
        return None  # also rules out Unicode digits ("²"), which isdigit() accepts and int() rejects
    if text.isdigit():
        return min(float(int(text)), MAX_RETRY_AFTER_S)
    try:
        when = parsedate_to_datetime(text)
        seconds = (when - now).total_seconds()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None  # a naive date cannot be compared with ``now`` either: TypeError
    if when.tzinfo is None or seconds != seconds:
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S)


def next_delay(
    attempt: int,
    policy: RetryPolicy,
    *,
    error_category: ErrorCategory | None = None,
    status_code: int | None = None,
    retry_after: str | None = None,
    now: datetime,
    floor_s: float = 1.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after attempt ``attempt`` (1-based) failed."""
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    max_delay = policy.max_delay_ms / 1000
    # The exponent is bounded before the power so a large attempt number cannot overflow a float.
    exponent = min(attempt - 1, 200)
    base = min(max_delay, policy.initial_delay_ms / 1000 * policy.multiplier**exponent)
    delay = min(max_delay, base * (1 + policy.jitter * (2 * rand() - 1)))
    if status_code in _RETRY_AFTER_STATUSES:
        hinted = parse_retry_after(retry_after, now)
        if hinted is not None:
            delay = max(delay, min(hinted, 2 * delay, max_delay))
    if error_category in _FLOORED:
        delay = max(delay, floor_s)
    return max(0.0, delay)


def choose_tier(remaining_s: float, tiers_s: Sequence[int]) -> int:
    """The largest delay tier not exceeding the remaining wait (the smallest tier for short waits)."""
    ordered = sorted(tiers_s)
    if not ordered:
        raise ValueError("no retry tiers configured")
    chosen = ordered[0]
    for tier in ordered:
        if tier <= remaining_s:
            chosen = tier
    return chosen


def tier_wait(remaining_s: float, tier_s: int) -> float:
    """How long a job sits in its tier: the tier delay, or less when the job is due sooner."""
    return max(0.0, min(float(tier_s), remaining_s))
