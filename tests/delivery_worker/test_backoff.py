"""Table tests of next_delay, Retry-After parsing and tier choice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from contracts.webhooks import RetryPolicy
from delivery_worker.backoff import MAX_RETRY_AFTER_S, choose_tier, next_delay, parse_retry_after, tier_wait

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
P = RetryPolicy(initial_delay_ms=5000, multiplier=5.0, max_delay_ms=36_000_000, jitter=0.2)
NO_JITTER = P.model_copy(update={"jitter": 0.0})
SMALL = RetryPolicy(initial_delay_ms=100, multiplier=2.0, max_delay_ms=1000, jitter=0.0)


def mid() -> float:
    return 0.5  # jitter factor 1.0


@pytest.mark.parametrize(
    ("attempt", "policy", "rand", "expected"),
    [
        (1, NO_JITTER, mid, 5.0),
        (2, NO_JITTER, mid, 25.0),
        (3, NO_JITTER, mid, 125.0),
        (7, NO_JITTER, mid, 36_000.0),  # 5 * 5**6 = 78125 s, capped at max_delay
        (1, P, lambda: 0.0, 4.0),  # -20 %
        (1, P, lambda: 1.0, 6.0),  # +20 %
        (2, P, mid, 25.0),
        (7, P, lambda: 1.0, 36_000.0),  # jitter never pushes past the cap
        (1, SMALL, mid, 0.1),
        (4, SMALL, mid, 0.8),
        (5, SMALL, mid, 1.0),
        (1000, SMALL, mid, 1.0),  # huge attempt numbers do not overflow
        (1, RetryPolicy(initial_delay_ms=0, max_delay_ms=0, jitter=0.0), mid, 0.0),
    ],
)
def test_exponential_schedule_with_jitter_and_cap(
    attempt: int, policy: RetryPolicy, rand, expected: float
) -> None:
    assert next_delay(attempt, policy, now=NOW, rand=rand) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("category", "status", "retry_after", "expected"),
    [
        ("http_429", 429, "7", 7.0),  # within [5, 10]: honoured
        ("http_429", 429, "2", 5.0),  # below the schedule: the schedule wins
        ("http_429", 429, "3600", 10.0),  # at most twice the schedule
        ("http_5xx", 503, "8", 8.0),
        ("http_5xx", 500, "8", 5.0),  # only 429 and 503 carry a meaningful Retry-After
        ("http_429", 429, format_datetime(NOW + timedelta(seconds=9), usegmt=True), 9.0),
        ("http_429", 429, format_datetime(NOW - timedelta(seconds=60), usegmt=True), 5.0),
        ("http_429", 429, "soon", 5.0),  # unparseable: ignored
        ("http_429", 429, None, 5.0),
    ],
)
def test_retry_after_clamped(category, status: int, retry_after: str | None, expected: float) -> None:
    got = next_delay(
        1, NO_JITTER, error_category=category, status_code=status, retry_after=retry_after, now=NOW
    )
    assert got == pytest.approx(expected)


def test_retry_after_never_exceeds_max_delay() -> None:
    policy = RetryPolicy(initial_delay_ms=4000, multiplier=1.0, max_delay_ms=6000, jitter=0.0)
    assert (
        next_delay(1, policy, status_code=429, error_category="http_429", retry_after="100", now=NOW) == 6.0
    )


@pytest.mark.parametrize(
    ("category", "floor", "expected"),
    [
        ("timeout", 1.0, 1.0),
        ("http_429", 1.0, 1.0),
        ("http_5xx", 1.0, 0.1),
        ("connection_error", 1.0, 0.1),
        ("timeout", 0.5, 0.5),
    ],
)
def test_floor_for_timeouts_and_429(category, floor: float, expected: float) -> None:
    assert next_delay(1, SMALL, error_category=category, now=NOW, floor_s=floor) == pytest.approx(expected)


def test_attempt_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempt must be >= 1"):
        next_delay(0, P, now=NOW)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("120", 120.0),
        (" 5 ", 5.0),
        ("-1", None),
        ("1.5", None),
        ("", None),
        (None, None),
        ("Wed, 01 Jan 2026 12:00:30 GMT", 30.0),
        ("Wed, 01 Jan 2026 11:00:00 GMT", 0.0),
        # Hostile or broken receivers (issue 15 item 1): never an exception, always capped.
        ("\u00b2", None),  # superscript two: str.isdigit() says yes, int() raises
        ("\u0661\u0662", None),  # Arabic-Indic digits: int() would accept them, a header must not
        ("\uff11\uff12", None),  # fullwidth digits
        ("9" * 4301, None),  # over int()'s 4,300-digit limit
        ("9" * 70, None),  # long but parseable: garbage all the same
        ("99999999", MAX_RETRY_AFTER_S),  # capped at a day
        ("Wed, 01 Jan 2099 12:00:00 GMT", MAX_RETRY_AFTER_S),
        ("Wed, 01 Jan 2026 12:00:30", None),  # no zone: naive, not comparable
        ("Mon, 99 Foo 99999 99:99:99 GMT", None),
        ("Wed, 01 Jan 9999 23:59:59 +2359", MAX_RETRY_AFTER_S),
        ("-0", None),
        ("+5", None),
        ("5 s", None),
        ("\x00", None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize("value", ["\u00b2", "9" * 5000, "\ud800", "Wed, 32 Dec 2026 25:61:61 GMT", "0x10"])
def test_next_delay_ignores_a_hostile_retry_after(value: str) -> None:
    got = next_delay(1, NO_JITTER, error_category="http_429", status_code=429, retry_after=value, now=NOW)
    assert got == pytest.approx(5.0)


TIERS = (1, 10, 60, 600, 3600)


@pytest.mark.parametrize(
    ("remaining", "tier", "wait"),
    [
        (0.0, 1, 0.0),
        (0.3, 1, 0.3),  # shorter than every tier: the smallest, for only as long as needed
        (1.0, 1, 1.0),
        (9.9, 1, 1.0),
        (10.0, 10, 10.0),
        (59.0, 10, 10.0),
        (61.0, 60, 60.0),
        (3599.0, 600, 600.0),
        (86_400.0, 3600, 3600.0),
    ],
)
def test_choose_tier(remaining: float, tier: int, wait: float) -> None:
    assert choose_tier(remaining, TIERS) == tier
    assert tier_wait(remaining, tier) == pytest.approx(wait)


def test_choose_tier_needs_tiers() -> None:
    with pytest.raises(ValueError, match="no retry tiers"):
        choose_tier(5, ())
