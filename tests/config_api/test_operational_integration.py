"""Operational webhooks in the config API: the seeded carehooks catalog, the failing / recovered rule.

Migration 007 seeds the built-in carehooks integration with exactly the contracts' catalog.

The e2e test (tests/e2e/test_operational_webhooks.py) reads the same catalog back through the API.
"""

from __future__ import annotations

import json
import re

import pytest

from config_api.deliveries.health import Health, Thresholds, health_transition
from config_api.migrations_runner import migration_files
from contracts.catalogs import CAREHOOKS_EVENT_TYPES, CAREHOOKS_INTEGRATION, CAREHOOKS_OBJECT_TYPES


def test_the_seeded_catalog_equals_the_contracts_catalog() -> None:
    sql = dict(migration_files())["007_carehooks_integration.sql"]
    literals = [json.loads(text) for text in re.findall(r"'(\{.*\})'::jsonb", sql)]
    assert literals == [CAREHOOKS_EVENT_TYPES, CAREHOOKS_OBJECT_TYPES]
    assert f"'{CAREHOOKS_INTEGRATION}', 'custom'" in sql


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
