"""The HTTP API on the real stack: auth, inspection, bad input, replays in the background, metrics."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from dlq_factories import letter, webhook
from dlq_kafka import produce_letters, publish_webhooks, read_jobs, read_records

from admin_auth.tokens import create_token
from contracts.base import utcnow
from contracts.events import DlqReplayCompletedV1
from contracts.topics import Topics
from dlq_replayer.app import DlqReplayerApp
from dlq_replayer.handlers import ROUTES

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer boot-admin-token-0123456789abcdefghij"}


async def poll_replay(
    client: aiohttp.ClientSession, replay_id: str, headers: dict[str, str]
) -> dict[str, Any]:
    """The replay record once it is no longer running."""
    for _ in range(300):
        body: dict[str, Any] = await (await client.get(f"/dlq/replays/{replay_id}", headers=headers)).json()
        if body["status"] != "running":
            return body
        await asyncio.sleep(0.05)
    raise AssertionError("replay did not finish")


async def test_http_api(
    kafka_bootstrap: str,
    topics: Topics,
    database_url: str,
    client: aiohttp.ClientSession,
    dlq_service: DlqReplayerApp,
) -> None:
    now = utcnow()
    await publish_webhooks(kafka_bootstrap, topics, [webhook("wh-a"), webhook("wh-f", integration="fhir-1")])
    letters = [letter(i, at=now, webhook="wh-a") for i in range(5)]
    letters += [
        letter(50, at=now, webhook="wh-gone"),
        letter(60, at=now, webhook="wh-f", integration="fhir-1"),
    ]
    await produce_letters(kafka_bootstrap, topics, letters)

    assert dlq_service.state.runtime is not None and dlq_service.state.runtime.followed is not None
    view = dlq_service.state.runtime.followed.view
    for _ in range(200):
        if len(view.webhooks) == 2:
            break
        await asyncio.sleep(0.02)
    assert (await client.get("/healthz")).status == 200
    conn = await asyncpg.connect(database_url)
    try:
        viewer, _ = await create_token(conn, "v", "viewer", None, "t")
        operator, _ = await create_token(conn, "ops", "operator", None, "t")
        scoped, _ = await create_token(conn, "fhir-ops", "operator", ["fhir-1"], "t")
    finally:
        await conn.close()
    op = {"Authorization": f"Bearer {operator}"}
    fhir = {"Authorization": f"Bearer {scoped}"}

    # auth
    unauthorized = await client.get("/dlq/messages")
    assert unauthorized.status == 401 and unauthorized.headers["WWW-Authenticate"] == "Bearer"
    assert (await unauthorized.json(content_type=None))["type"].endswith("/unauthorized")
    assert (await client.get("/dlq/messages", headers={"Authorization": "Bearer nope"})).status == 401
    forbidden = await client.get("/dlq/messages", headers={"Authorization": f"Bearer {viewer}"})
    assert forbidden.status == 403

    # inspect
    listed = await (await client.get("/dlq/messages", headers=op)).json()
    assert listed["count"] == 7
    assert {
        "id",
        "dead_lettered_at",
        "webhook_id",
        "delivery_id",
        "attempts",
        "last_error_category",
        "replayed",
    } <= set(listed["messages"][0])
    assert "body" not in str(listed)
    only_a = await (await client.get("/dlq/messages?webhook=wh-a&limit=2", headers=op)).json()
    assert only_a["count"] == 2
    some = listed["messages"][0]["id"]
    shown = await (await client.get(f"/dlq/messages/{some}", headers=op)).json()
    assert shown["dead_letter"]["job"]["body"] is None
    full = await (await client.get(f"/dlq/messages/{some}?payload=true", headers=op)).json()
    assert "@example.org" in full["dead_letter"]["job"]["body"]
    stats = await (await client.get("/dlq/stats", headers=op)).json()
    assert stats["by_webhook"] == {"wh-a": 5, "wh-f": 1, "wh-gone": 1}

    # a scoped token sees only its integrations
    scoped_list = await (await client.get("/dlq/messages", headers=fhir)).json()
    assert [m["webhook_id"] for m in scoped_list["messages"]] == ["wh-f"]
    assert (await client.get("/dlq/messages?integration=sm-1", headers=fhir)).status == 403
    assert (await client.get(f"/dlq/messages/{some}", headers=fhir)).status == 404

    # bad input: 404 / 422 with the reason, never a 5xx
    cases = [
        ("/dlq/messages?since=soon", 422, "since"),
        ("/dlq/messages?replayed=maybe", 422, "replayed"),
        ("/dlq/messages?colour=red", 422, "colour"),
        ("/dlq/messages?limit=-3", 422, "limit"),
        ("/dlq/messages/not-an-id", 422, "not <partition>-<offset>"),
        ("/dlq/messages/0-99999", 404, "no dead letter"),
        (f"/dlq/messages/{some}?payload=perhaps", 422, "payload"),
        ("/dlq/replays/unknown", 404, "no replay"),
        ("/dlq/replays?limit=x", 422, "limit"),
    ]
    for path, status, text in cases:
        resp = await client.get(path, headers=op)
        assert resp.status == status, path
        assert resp.content_type == "application/problem+json", path
        problem = await resp.json(content_type=None)
        assert problem["status"] == status and problem["title"] and problem["type"], problem
        assert text in problem["detail"], path
    for body, text in [
        ({"rate": 0}, "rate"),
        ({"colour": "red"}, "colour"),
        ({"since": "later"}, "since"),
        ([1, 2], "JSON object"),
    ]:
        resp = await client.post("/dlq/replays", json=body, headers=op)
        assert resp.status == 422 and text in (await resp.json(content_type=None))["detail"], body
    resp = await client.post("/dlq/replays", data=b"{not json", headers=op)
    assert resp.status == 422

    # dry run, replay, second replay
    dry = await (
        await client.post("/dlq/replays", json={"dry_run": True, "integration": "sm-1"}, headers=op)
    ).json()
    assert dry["replay_id"] is None
    assert (dry["plan"]["to_replay"], dry["plan"]["skipped_deleted"]) == (5, 1)
    started = await client.post("/dlq/replays", json={"integration": "sm-1", "rate": 200}, headers=op)
    assert started.status == 202
    replay_id = (await started.json())["replay_id"]
    done = await poll_replay(client, replay_id, op)
    assert (done["status"], done["selected"], done["replayed"], done["skipped_deleted"]) == (
        "completed",
        6,
        5,
        1,
    )
    assert done["requested_by"] == "token:ops"
    again = await client.post("/dlq/replays", json={"integration": "sm-1"}, headers=op)
    assert again.status == 200
    assert (await again.json())["plan"]["skipped_already_replayed"] == 5
    jobs = await read_jobs(kafka_bootstrap, topics.deliveries, expected=5)
    assert len(jobs) == 5 and all(j.replay and j.replay.replay_id == replay_id for _, j, _ in jobs)

    replays = await (await client.get("/dlq/replays", headers=op)).json()
    assert [r["id"] for r in replays] == [replay_id]
    resumed = await client.post(f"/dlq/replays/{replay_id}/resume", headers=op)
    assert resumed.status == 200 and (await resumed.json())["pending"] == 0
    assert (await client.post("/dlq/replays/nope/resume", headers=op)).status == 404

    metrics = await (await client.get("/metrics")).text()
    assert 'carehooks_dlq_replay_items_total{outcome="sent"}' in metrics

    # the end was announced once on webhooks.ops (dlq.replay.completed for operational webhooks)
    ops = await read_records(kafka_bootstrap, topics.ops, expected=1, settle_s=1.0)
    assert len(ops) == 1, ops
    key, value, _ = ops[0]
    ended = DlqReplayCompletedV1.model_validate_json(value)
    assert key == replay_id.encode() and ended.replay_id == replay_id
    assert (ended.status, ended.selected, ended.replayed, ended.skipped, ended.failed, ended.runs) == (
        "completed",
        6,
        5,
        1,
        0,
        1,
    )
    assert ended.integration_ids == ["sm-1"] and ended.requested_by == "token:ops"
    assert "@example.org" not in value.decode()  # counts and ids, never a payload


async def test_healthz_turns_503_when_the_config_view_dies(
    client: aiohttp.ClientSession, dlq_service: DlqReplayerApp
) -> None:
    assert (await client.get("/healthz")).status == 200
    assert set(dlq_service.supervisor.tasks) == {"config-follower", "replay-announcer"}
    follower = dlq_service.supervisor.tasks["config-follower"]
    follower.cancel()
    await asyncio.gather(follower, return_exceptions=True)
    resp = await client.get("/healthz")
    assert resp.status == 503 and (await resp.json())["dead_loops"][0]["name"] == "config-follower"


async def test_openapi_document_describes_every_route_with_problem_errors(
    client: aiohttp.ClientSession,
) -> None:
    resp = await client.get("/dlq/openapi.json")  # no token: the document holds no data
    assert resp.status == 200
    doc = await resp.json()
    routes = {
        (route.method.lower(), "/dlq" + route.path)
        for route in ROUTES
        if isinstance(route, web.RouteDef) and route.path != "/openapi.json"
    }
    described = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert described == routes
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            errors = {s: r for s, r in op["responses"].items() if int(s) >= 400}
            assert {"401", "403", "422", "503"} <= set(errors), (method, path)
            if "{" in path:
                assert "404" in errors, (method, path)
            for response in errors.values():
                assert response["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }
    refs = json.dumps(doc)
    for name in ("MessageList", "ReplayRecord", "ReplayRequest", "Problem", "FieldError"):
        assert name in doc["components"]["schemas"] and f"#/components/schemas/{name}" in refs
    unknown = await client.get("/dlq/nothing-here", headers=ADMIN)
    assert unknown.status == 404 and (await unknown.json(content_type=None))["status"] == 404
