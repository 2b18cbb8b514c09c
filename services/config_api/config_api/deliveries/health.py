"""Per-webhook delivery health and the auto-deactivation rules (pure, table-tested).

A webhook is deactivated automatically
- at once when its endpoint answers 410 Gone;
- after ``max_consecutive_failures`` deliveries in a row ended dead-lettered (or failed for good)
  without a success in between;
- when it has been failing without any success for ``max_failing_s`` (checked periodically, see
  :func:`failing_too_long`).
A success resets the counters; so does a deactivation, so that a re-activated webhook starts
with a clean slate instead of being switched off again by its old failures.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from contracts.deliveries import DeliveryResultV1

HealthChange = Literal["failing", "recovered"]
FINAL_FAILURES = frozenset({"failed", "dead_lettered"})
ATTEMPT_FAILURES = frozenset({"failed", "retrying", "dead_lettered"})


@dataclass(frozen=True)
class Thresholds:
    """When to deactivate (from the settings)."""

    max_consecutive_failures: int
    max_failing_s: float
    failing_after: int = 3
    """Consecutive failed deliveries after which the webhook counts as failing (``webhook.failing``)."""
    failing_below_rate: float = 0.5
    """Recent success rate under which the webhook counts as failing (0 turns the rule off)."""
    rate_window: int = 20
    """Deliveries the recent success rate spans (its smoothing) and needs before it is trusted."""


@dataclass(frozen=True)
class Health:
    """What the config API knows about a webhook's recent deliveries."""

    consecutive_failures: int = 0
    last_failed_delivery: str | None = None
    failing_since: datetime | None = None
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_error: str | None = None
    last_error_category: str | None = None
    last_status_code: int | None = None
    success_rate: float = 1.0
    """Recent success rate of finished deliveries (exponentially weighted over ``rate_window``)."""
    rated_deliveries: int = 0
    """Finished deliveries the rate has seen (capped at ``RATED_CAP``)."""


RATED_CAP = 1_000_000


def rated(health: Health, succeeded: bool, window: int) -> Health:
    """The health after one finished delivery entered the recent success rate.

    An exponentially weighted mean (smoothing 2 / (window + 1), the span of a ``window``-long moving
    average) needs two numbers per webhook instead of a ring of outcomes, and forgets old spells.
    """
    alpha = 2.0 / (window + 1)
    rate = health.success_rate + alpha * ((1.0 if succeeded else 0.0) - health.success_rate)
    return replace(health, success_rate=rate, rated_deliveries=min(health.rated_deliveries + 1, RATED_CAP))


def rate_failing(health: Health, thresholds: Thresholds) -> bool:
    """Whether the recent success rate is under the threshold (once it has seen a full window)."""
    return (
        health.rated_deliveries >= thresholds.rate_window
        and health.success_rate < thresholds.failing_below_rate
    )


def describe_error(result: DeliveryResultV1) -> str:
    """A short, PHI-free error text for the status view."""
    if result.error_message:
        return result.error_message[:500]
    if result.status_code is not None:
        return f"HTTP {result.status_code}"
    return result.error_category or result.outcome


def apply_result(
    health: Health, result: DeliveryResultV1, thresholds: Thresholds
) -> tuple[Health, str | None]:
    """The health after one (new) result, and a deactivation reason when a rule fires."""
    if result.outcome == "succeeded":
        newest = max(filter(None, (health.last_success_at, result.attempted_at)))
        return replace(
            rated(health, True, thresholds.rate_window),
            consecutive_failures=0,
            last_failed_delivery=None,
            failing_since=None,
            last_success_at=newest,
        ), None
    if result.outcome not in ATTEMPT_FAILURES:
        return health, None  # cancelled: nothing was sent, says nothing about the endpoint
    updated = health
    if result.error_category != "circuit_open":  # the breaker skipped the request: no new error to show
        stale = health.last_success_at is not None and result.attempted_at < health.last_success_at
        updated = replace(
            updated,
            last_failure_at=max(filter(None, (health.last_failure_at, result.attempted_at))),
            last_error=describe_error(result),
            last_error_category=result.error_category,
            last_status_code=result.status_code,
            failing_since=health.failing_since or (None if stale else result.attempted_at),
        )
    if result.outcome in FINAL_FAILURES:
        # A delivery can report both "failed" and "dead_lettered"; count it once.
        key = f"{result.delivery_id}/{result.replay_id or ''}"
        if key != health.last_failed_delivery:
            updated = replace(
                rated(updated, False, thresholds.rate_window),
                consecutive_failures=health.consecutive_failures + 1,
                last_failed_delivery=key,
            )
    if result.gone or result.status_code == 410:
        return updated, "auto-deactivated: the endpoint answered 410 Gone"
    if updated.consecutive_failures >= thresholds.max_consecutive_failures:
        return updated, (
            f"auto-deactivated: {updated.consecutive_failures} consecutive deliveries failed "
            "(dead-lettered) without a success"
        )
    return updated, None


def failing_too_long(
    health: Health, now: datetime, thresholds: Thresholds, clock_start: datetime | None = None
) -> str | None:
    """The deactivation reason when the webhook has had no success for too long, else None.

    ``clock_start`` (e.g. when the webhook was last changed or re-activated) restarts the clock.
    """
    if health.failing_since is None:
        return None
    since = max(health.failing_since, clock_start) if clock_start else health.failing_since
    if now - since < timedelta(seconds=thresholds.max_failing_s):
        return None
    return (
        f"auto-deactivated: no successful delivery since {health.failing_since.isoformat(timespec='seconds')} "
        f"({_human(thresholds.max_failing_s)} or more of failures)"
    )


def health_transition(
    after: Health, succeeded: bool, announced_failing: bool, thresholds: Thresholds
) -> HealthChange | None:
    """``"failing"`` or ``"recovered"`` when one result moves the webhook across, else None.

    Failing (announced once per spell): ``failing_after`` deliveries in a row failed for good, or the
    recent success rate fell under ``failing_below_rate``.
    Recovered: a success after an announced failing spell once the rate is back at the threshold (so a
    webhook at 40 % success does not flap failing / recovered on every success); a deactivation resets
    the counters but is no recovery: only a success is.
    """
    if not announced_failing and (
        after.consecutive_failures >= thresholds.failing_after or rate_failing(after, thresholds)
    ):
        return "failing"
    if announced_failing and succeeded and not rate_failing(after, thresholds):
        return "recovered"
    return None


def reset_after_deactivation(health: Health) -> Health:
    """Counters restart so that a re-activated webhook gets a fresh chance."""
    return replace(
        health,
        consecutive_failures=0,
        last_failed_delivery=None,
        failing_since=None,
        success_rate=1.0,
        rated_deliveries=0,
    )


def _human(seconds: float) -> str:
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{int(seconds // 86400)} d"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    return f"{seconds:g} s"
