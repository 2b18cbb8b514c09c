"""Fixtures for config API tests (helpers live in ``capi_harness``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from capi_harness import ApiHarness, make_settings, start_harness

from contracts.topics import Topics


@pytest.fixture
async def api(database_url: str, service_env: dict[str, str], topics: Topics) -> AsyncIterator[ApiHarness]:
    """A config API on this test's database and topics."""
    del topics  # requested so the topics exist before the relay starts
    async with start_harness(make_settings(database_url, service_env)) as harness:
        yield harness
