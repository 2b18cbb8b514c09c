"""Replays respect the token's integration scope (issue 15 item 4): a token limited to some
integrations neither lists, reads nor resumes a replay that touches another integration.
Out-of-scope replays answer 404 (like unknown ones) so a scoped token cannot probe for their ids."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import asyncpg
import pytest
from dlq_factories import letter, webhook
from dlq_kafka import produce_letters, publish_webhooks

from admin_auth.tokens import create_token
from contracts.base import utcnow
from contracts.topics import Topics
from dlq_replayer.app import DlqReplayerApp
from dlq_replayer.selection import replay_in_scope

ADMIN = {"Authorization": "Bearer boot-admin-token-0123456789abcdefghij"}


@pytest.mark.parametrize(
    ("integrations", "scope", "visible"),
    [
        (["sm-1"], None, True),
        ([], None, True),
        (["sm-1"], frozenset({"sm-1"}), True),
        (["sm-1", "fhir-1"], frozenset({"sm-1", "fhir-1", "x"}), True),
        (["sm-1", "fhir-1"], frozenset({"sm-1"}), False),
        (["fhir-1"], frozenset({"sm-1"}), False),
        ([], frozenset({"sm-1"}), False),
        ([], frozenset(), False),
        (["sm-1"], frozenset(), False),
    ],
)
def test_replay_in_scope(integrations: list[str], scope: frozenset[str] | None, visible: bool) -> None:
    assert replay_in_scope(integrations, scope) is visible


async def _finished(client: aiohttp.ClientSession, replay_id: str) -> dict[str, Any]:
    for _ in range(300):
        body: dict[str, Any] = await (await client.get(f"/dlq/replays/{replay_id}", headers=ADMIN)).json()
        if body["status"] != "running":
            return body
        await asyncio.sleep(0.05)
    raise AssertionError("replay did not finish")


@pytest.mark.integration
async def test_scoped_operator_sees_and_resumes_only_its_replays(
    kafka_bootstrap: str,
    topics: Topics,
    database_url: str,
    client: aiohttp.ClientSession,
    dlq_service: DlqReplayerApp,
) -> None:
    now = utcnow()
    await publish_webhooks(kafka_bootstrap, topics, [webhook("wh-a"), webhook("wh-f", integration="fhir-1")])
    letters = [letter(i, at=now, webhook="wh-a") for i in range(3)]
    letters += [letter(60 + i, at=now, webhook="wh-f", integration="fhir-1") for i in range(2)]
    await produce_letters(kafka_bootstrap, topics, letters)
    assert dlq_service.state.runtime is not None and dlq_service.state.runtime.followed is not None
    view = dlq_service.state.runtime.followed.view
    for _ in range(200):
        if len(view.webhooks) == 2:
            break
        await asyncio.sleep(0.02)
    conn = await asyncpg.connect(database_url)
    try:
        fhir_token, _ = await create_token(conn, "fhir-ops", "operator", ["fhir-1"], "t")
        sm_token, _ = await create_token(conn, "sm-ops", "operator", ["sm-1"], "t")
    finally:
        await conn.close()
    fhir = {"Authorization": f"Bearer {fhir_token}"}
    sm = {"Authorization": f"Bearer {sm_token}"}

    # the unscoped admin replays sm-1; the fhir operator replays its own integration
    sm_replay = (
        await (await client.post("/dlq/replays", json={"integration": "sm-1"}, headers=ADMIN)).json()
    )["replay_id"]
    await _finished(client, sm_replay)
    started = await client.post("/dlq/replays", json={"integration": "fhir-1"}, headers=fhir)
    assert started.status == 202, await started.text()
    fhir_replay = (await started.json())["replay_id"]
    await _finished(client, fhir_replay)
    # an unfiltered replay by the admin touches both integrations (nothing left to send: skipped items)
    both = await client.post("/dlq/replays", json={"force": True}, headers=ADMIN)
    assert both.status == 202, await both.text()
    both_replay = (await both.json())["replay_id"]
    assert set((await _finished(client, both_replay))["integration_ids"]) == {"sm-1", "fhir-1"}

    # list: each scoped operator sees only the replays wholly inside its scope
    listed = await (await client.get("/dlq/replays", headers=fhir)).json()
    assert [r["id"] for r in listed] == [fhir_replay]
    assert [r["id"] for r in await (await client.get("/dlq/replays", headers=sm)).json()] == [sm_replay]
    all_ids = {r["id"] for r in await (await client.get("/dlq/replays", headers=ADMIN)).json()}
    assert all_ids == {sm_replay, fhir_replay, both_replay}

    # read and resume: 404 outside the scope, exactly like an unknown id
    for other in (sm_replay, both_replay):
        shown = await client.get(f"/dlq/replays/{other}", headers=fhir)
        assert shown.status == 404, await shown.text()
        resumed = await client.post(f"/dlq/replays/{other}/resume", headers=fhir)
        assert resumed.status == 404, await resumed.text()
    unknown = await client.get("/dlq/replays/nope", headers=fhir)
    assert unknown.status == 404
    own = await client.get(f"/dlq/replays/{fhir_replay}", headers=fhir)
    assert own.status == 200 and (await own.json())["integration_ids"] == ["fhir-1"]
    assert (await client.post(f"/dlq/replays/{fhir_replay}/resume", headers=fhir)).status == 200


@pytest.mark.integration
async def test_viewing_a_payload_is_audited(
    kafka_bootstrap: str, topics: Topics, database_url: str, client: aiohttp.ClientSession
) -> None:
    await produce_letters(kafka_bootstrap, topics, [letter(1, at=utcnow(), webhook="wh-a")])
    listed = await (await client.get("/dlq/messages", headers=ADMIN)).json()
    message_id = listed["messages"][0]["id"]
    conn = await asyncpg.connect(database_url)
    try:
        before = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'dlq.payload.view'")
        plain = await client.get(f"/dlq/messages/{message_id}", headers=ADMIN)
        assert plain.status == 200
        assert (
            await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'dlq.payload.view'") == before
        )
        full = await client.get(f"/dlq/messages/{message_id}?payload=true", headers=ADMIN)
        assert full.status == 200 and (await full.json())["payload_included"] is True
        row = await conn.fetchrow(
            "SELECT actor, integration_id, webhook_id, details FROM audit_log"
            " WHERE action = 'dlq.payload.view' ORDER BY id DESC LIMIT 1"
        )
    finally:
        await conn.close()
    assert row is not None
    assert (row["actor"], row["integration_id"], row["webhook_id"]) == ("bootstrap-admin", "sm-1", "wh-a")
    assert message_id in row["details"]


@pytest.mark.integration
async def test_browser_headers_and_failed_authentication_throttle(client: aiohttp.ClientSession) -> None:
    for path in ("/healthz", "/dlq/messages"):
        resp = await client.get(path)
        assert resp.headers["X-Content-Type-Options"] == "nosniff", path
        assert resp.headers["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"], path
    guess = {"Authorization": "Bearer chk_guess"}
    statuses = [(await client.get("/dlq/messages", headers=guess)).status for _ in range(11)]
    assert statuses[:9] == [401] * 9 and statuses[9:] == [429, 429]
    blocked = await client.get("/dlq/replays", headers=ADMIN)  # even the right token waits now
    assert blocked.status == 429 and 1 <= int(blocked.headers["Retry-After"]) <= 60
    assert blocked.headers["X-Content-Type-Options"] == "nosniff"
