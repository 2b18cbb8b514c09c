"""Receivers' response excerpts are encrypted at rest and shown to operators and admins only
(issue 15 item 10), through the real results topic, the ingest and the API."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from capi_harness import ApiHarness
from delivery_helpers import make_result, publish, wait_ingested

from config_api.deliveries.excerpts import (
    SEALED_PREFIX,
    UNREADABLE,
    open_excerpt,
    seal_excerpt,
    seal_legacy_excerpts,
)
from config_api.deliveries.store import clean_text
from webhook_core.secrets_crypto import SecretBox, generate_key

pytestmark = pytest.mark.integration

ECHO = '{"patient": {"name": "Jane Roe", "mrn": "MRN-0042"}}'


def _logs_path(wh: dict[str, Any]) -> str:
    return f"/admin/integration/{wh['integration_id']}/webhooks/{wh['id']}/logs"


async def test_excerpts_are_sealed_at_rest_and_hidden_from_viewers(
    api: ApiHarness, database_url: str
) -> None:
    wh = await api.create_webhook()
    results = [
        make_result(
            wh, "d-echo", "failed", status_code=422, error_category="http_4xx", response_body_excerpt=ECHO
        )
    ]
    await publish(api.settings.kafka_bootstrap_servers, api.settings.topics.delivery_results, results)
    await wait_ingested(api.app.state.results_ingestor, 1)

    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval(
            "SELECT response_body_excerpt FROM delivery_attempts WHERE delivery_id = 'd-echo'"
        )
    finally:
        await conn.close()
    assert stored.startswith(SEALED_PREFIX) and "Jane" not in stored and "MRN" not in stored

    operator = api.as_token(await api.make_token("operator"))
    viewer = api.as_token(await api.make_token("viewer"))
    for client in (api.client, operator):
        item = (await client.get(_logs_path(wh))).json()["items"][0]
        assert item["response_body_excerpt"] == ECHO
    seen = (await viewer.get(_logs_path(wh))).json()["items"][0]
    assert seen["response_body_excerpt"] is None
    assert (seen["status_code"], seen["error_category"], seen["outcome"]) == (422, "http_4xx", "failed")


async def test_plain_text_rows_from_before_stay_readable_and_get_sealed(
    api: ApiHarness, database_url: str
) -> None:
    wh = await api.create_webhook()
    await publish(
        api.settings.kafka_bootstrap_servers,
        api.settings.topics.delivery_results,
        [make_result(wh, "d-legacy", "failed", status_code=500, response_body_excerpt="x")],
    )
    await wait_ingested(api.app.state.results_ingestor, 1)
    conn = await asyncpg.connect(database_url)
    try:  # what an earlier version stored: plain text
        await conn.execute(
            "UPDATE delivery_attempts SET response_body_excerpt = $1 WHERE delivery_id = 'd-legacy'", ECHO
        )
        assert (await api.client.get(_logs_path(wh))).json()["items"][0]["response_body_excerpt"] == ECHO
        assert await seal_legacy_excerpts(api.app.state.pool, api.app.state.box) >= 1
        stored = await conn.fetchval(
            "SELECT response_body_excerpt FROM delivery_attempts WHERE delivery_id = 'd-legacy'"
        )
        assert stored.startswith(SEALED_PREFIX) and "Jane" not in stored
        assert await seal_legacy_excerpts(api.app.state.pool, api.app.state.box) == 0  # idempotent
    finally:
        await conn.close()
    assert (await api.client.get(_logs_path(wh))).json()["items"][0]["response_body_excerpt"] == ECHO


def test_seal_and_open() -> None:
    box = SecretBox(bytes(32))
    sealed = seal_excerpt(box, "d-1", ECHO)
    assert sealed is not None and open_excerpt(box, "d-1", sealed) == ECHO
    assert open_excerpt(box, "d-2", sealed) == UNREADABLE  # bound to its delivery
    assert (
        open_excerpt(SecretBox(__import__("base64").b64decode(generate_key())), "d-1", sealed) == UNREADABLE
    )
    assert seal_excerpt(box, "d-1", None) is None and seal_excerpt(box, "d-1", "") == ""
    assert open_excerpt(box, "d-1", "plain from before") == "plain from before"


def test_clean_text_bounds_and_replaces_what_postgresql_refuses() -> None:
    assert clean_text("a\x00b\ud800c", max_chars=10) == "a\ufffdb?c"
    assert len(clean_text("é" * 3000, max_bytes=1024).encode()) <= 1024  # type: ignore[union-attr]
