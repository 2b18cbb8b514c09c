"""Operational webhooks in the config API: the seeded carehooks catalog, the failing / recovered rule.

Migration 007 seeds the built-in carehooks integration; the newest migration writing its catalog (009)
leaves exactly the contracts' catalog.

The e2e test (tests/e2e/test_operational_webhooks.py) reads the same catalog back through the API.
"""

from __future__ import annotations

import json
import re

import pytest

from config_api.deliveries.health import Health, Thresholds, apply_result, health_transition, rated
from config_api.migrations_runner import migration_files
from contracts.base import utcnow
from contracts.catalogs import CAREHOOKS_EVENT_TYPES, CAREHOOKS_INTEGRATION, CAREHOOKS_OBJECT_TYPES
from contracts.deliveries import DeliveryResultV1


def test_the_seeded_catalog_equals_the_contracts_catalog() -> None:
    files = dict(migration_files())
    assert f"'{CAREHOOKS_INTEGRATION}', 'custom'" in files["007_carehooks_integration.sql"]
    # the newest migration that writes the catalog decides what a migrated database holds
    writers = [
        sql for name, sql in sorted(files.items()) if "::jsonb" in sql and CAREHOOKS_INTEGRATION in sql
    ]
    literals = [json.loads(text.replace("''", "'")) for text in re.findall(r"'(\{.*\})'::jsonb", writers[-1])]
    assert literals == [CAREHOOKS_EVENT_TYPES, CAREHOOKS_OBJECT_TYPES]


LIMITS = Thresholds(max_consecutive_failures=10, max_failing_s=3600, failing_after=3)


@pytest.mark.parametrize(
    ("failures", "succeeded", "announced", "expected"),
    [
        (2, False, False, None),  # below the threshold
        (3, False, False, "failing"),  # reaches it
        (4, False, True, None),  # already announced: once per spell
        (0, True, True, "recovered"),  # a success after an announced spell
        (0, True, False, None),  # a success without an announced spell
        (0, False, True, None),  # counters reset by a deactivation: no recovery without a success
    ],
)
def test_health_transition(failures: int, succeeded: bool, announced: bool, expected: str | None) -> None:
    after = Health(consecutive_failures=failures)
    assert health_transition(after, succeeded, announced, LIMITS) == expected


RATED = Thresholds(max_consecutive_failures=100, max_failing_s=3600, failing_after=50, rate_window=20)


@pytest.mark.parametrize(
    ("rate", "seen", "succeeded", "announced", "expected"),
    [
        (0.45, 20, False, False, "failing"),  # under 0.5 over a full window
        (0.45, 19, False, False, None),  # not enough deliveries yet to trust the rate
        (0.55, 20, False, False, None),  # at or above the threshold
        (0.45, 20, True, True, None),  # a success while still under it: no flapping
        (0.52, 20, True, True, "recovered"),  # a success that brings it back
        (0.52, 20, False, True, None),  # back above, but recovery needs a success
    ],
)
def test_the_success_rate_rule(
    rate: float, seen: int, succeeded: bool, announced: bool, expected: str | None
) -> None:
    after = Health(success_rate=rate, rated_deliveries=seen)
    assert health_transition(after, succeeded, announced, RATED) == expected
    off = Thresholds(max_consecutive_failures=100, max_failing_s=3600, failing_after=50, failing_below_rate=0)
    if not announced:
        assert health_transition(after, succeeded, announced, off) is None  # 0 turns the rule off


def test_a_flaky_webhook_goes_failing_by_rate_without_a_long_failing_streak() -> None:
    """Two failures for each success never makes 3 in a row, but the rate says it is failing."""
    limits = Thresholds(max_consecutive_failures=100, max_failing_s=3600, failing_after=3, rate_window=20)
    health, announced, changes = Health(), False, []
    for i in range(60):
        outcome = "succeeded" if i % 3 == 2 else "dead_lettered"
        health, _ = apply_result(health, result(f"d{i}", outcome), limits)
        assert health.consecutive_failures < 3
        moved = health_transition(health, outcome == "succeeded", announced, limits)
        if moved is not None:
            changes.append((i, moved))
            announced = moved == "failing"
    assert changes and changes[0][1] == "failing" and all(m == "failing" for _, m in changes)
    assert 0.3 < health.success_rate < 0.4 and health.rated_deliveries == 60


def test_the_rate_is_an_exponentially_weighted_mean() -> None:
    health = Health()
    for _ in range(200):
        health = rated(health, False, 20)
    assert health.success_rate < 1e-6
    health = rated(health, True, 20)
    assert health.success_rate == pytest.approx(2 / 21)


def result(delivery_id: str, outcome: str) -> DeliveryResultV1:
    return DeliveryResultV1(
        delivery_id=delivery_id,
        webhook_id="wh-flaky",
        integration_id="ehr",
        event_id=f"ev-{delivery_id}",
        event_type="Observation.create",
        attempt=1,
        outcome=outcome,  # type: ignore[arg-type]
        status_code=200 if outcome == "succeeded" else 503,
        attempted_at=utcnow(),
    )
