"""Migration 007 seeds the built-in carehooks integration with exactly the contracts' catalog.

The e2e test (tests/e2e/test_operational_webhooks.py) reads the same catalog back through the API.
"""

from __future__ import annotations

import json
import re

from config_api.migrations_runner import migration_files
from contracts.catalogs import CAREHOOKS_EVENT_TYPES, CAREHOOKS_INTEGRATION, CAREHOOKS_OBJECT_TYPES


def test_the_seeded_catalog_equals_the_contracts_catalog() -> None:
    sql = dict(migration_files())["007_carehooks_integration.sql"]
    literals = [json.loads(text) for text in re.findall(r"'(\{.*\})'::jsonb", sql)]
    assert literals == [CAREHOOKS_EVENT_TYPES, CAREHOOKS_OBJECT_TYPES]
    assert f"'{CAREHOOKS_INTEGRATION}', 'custom'" in sql
