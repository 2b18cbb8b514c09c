"""The ``dlq`` CLI on the real stack: over the replayer's HTTP API (the default; the service listens on
loopback, the CLI has no database URL or secrets key) and with ``--direct``: same answers as the
HTTP API, confirmations, exit codes, usage errors, the default token file of ``make run``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from dlq_factories import letter, webhook
from dlq_kafka import produce_letters, publish_webhooks, read_jobs
from typer.testing import CliRunner, Result

from contracts.base import utcnow
from contracts.topics import Topics
from dlq_replayer.app import DlqReplayerApp
from dlq_replayer.cli import app

pytestmark = pytest.mark.integration

TOKEN = "boot-admin-token-0123456789abcdefghij"  # the service's ADMIN_TOKEN (conftest)
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


async def dlq(env: Mapping[str, str | None], *args: str, stdin: str | None = None) -> Result:
    """Run ``dlq ARGS`` in a thread (the CLI runs its own event loop)."""
    runner = CliRunner()
    full = {"COLUMNS": "250", **env}  # wide enough that rich tables do not fold ids
    return await asyncio.to_thread(
        runner.invoke, app, list(args), input=stdin, env=full, catch_exceptions=False
    )


def http_env(service: DlqReplayerApp, run_dir: Path, token: str | None = TOKEN) -> dict[str, str | None]:
    """An operator's terminal: the API's URL and a token, none of the service's settings."""
    return {
        "CAREHOOKS_DLQ_URL": f"http://127.0.0.1:{service.ops.bound_port}",
        "CAREHOOKS_TOKEN": token,
        "CAREHOOKS_RUN_DIR": str(run_dir),
        "DATABASE_URL": None,
        "WEBHOOK_SECRETS_KEY": None,
        "ADMIN_TOKEN": None,
        "KAFKA_BOOTSTRAP_SERVERS": None,
    }


async def test_cli_matches_http_and_replays(
    kafka_bootstrap: str,
    topics: Topics,
    database_url: str,
    client: aiohttp.ClientSession,
    dlq_service: DlqReplayerApp,
    tmp_path: Path,
) -> None:
    dlq_env = http_env(dlq_service, tmp_path)
    now = utcnow()
    await publish_webhooks(kafka_bootstrap, topics, [webhook("wh-a"), webhook("wh-off", active=False)])
    letters = [letter(i, at=now, webhook="wh-a") for i in range(4)] + [letter(9, at=now, webhook="wh-off")]
    await produce_letters(kafka_bootstrap, topics, letters)
    window = "since=2020-01-01T00:00:00Z&until=2100-01-01T00:00:00Z"
    window_args = ["--since", "2020-01-01T00:00:00Z", "--until", "2100-01-01T00:00:00Z"]

    # same answers: list, show, stats, dry run
    cli_list = await dlq(dlq_env, "list", "--json")
    assert cli_list.exit_code == 0, cli_list.output
    http_list = await (await client.get("/dlq/messages", headers=ADMIN)).json()
    assert json.loads(cli_list.stdout) == http_list and http_list["count"] == 5
    first = http_list["messages"][0]["id"]
    cli_show = await dlq(dlq_env, "show", first, "--json")
    assert (
        json.loads(cli_show.stdout)
        == await (await client.get(f"/dlq/messages/{first}", headers=ADMIN)).json()
    )
    cli_stats = await dlq(dlq_env, "stats", *window_args, "--json")
    http_stats = await (await client.get(f"/dlq/stats?{window}", headers=ADMIN)).json()
    assert json.loads(cli_stats.stdout) == http_stats
    cli_dry = await dlq(dlq_env, "replay", "--dry-run", "--json")
    http_dry = await (await client.post("/dlq/replays", json={"dry_run": True}, headers=ADMIN)).json()
    assert json.loads(cli_dry.stdout) == http_dry
    assert (http_dry["plan"]["to_replay"], http_dry["plan"]["skipped_inactive"]) == (4, 1)

    # the table views
    table = await dlq(dlq_env, "list", "--webhook", "wh-a")
    assert table.exit_code == 0 and "4 dead letter(s)" in table.stdout and "dlv-wh-a-3" in table.stdout
    dry_table = await dlq(dlq_env, "replay", "--dry-run")
    assert "would replay 4 of 5 selected to 1 webhook(s)" in dry_table.stdout

    # confirmation declined: nothing recorded, exit 1
    declined = await dlq(dlq_env, "replay", stdin="n\n")
    assert declined.exit_code == 1 and "Replay 4 message(s) to 1 webhook(s)?" in declined.stdout
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM dlq_replays") == 0
    finally:
        await conn.close()

    # replay with --yes, then the second replay replays nothing (exit 0)
    done = await dlq(dlq_env, "replay", "--yes", "--rate", "500")
    assert done.exit_code == 0, done.output
    assert "completed" in done.stdout
    jobs = await read_jobs(kafka_bootstrap, topics.deliveries, expected=4)
    assert len(jobs) == 4 and all(j.replay and j.replay.requested_by == "bootstrap-admin" for _, j, _ in jobs)
    second = await dlq(dlq_env, "replay", "--yes")
    assert second.exit_code == 0 and "nothing to replay" in second.stdout
    none = await dlq(dlq_env, "replay", "--webhook", "wh-nope")
    assert none.exit_code == 0 and "no dead letters match the filters: nothing to replay" in none.stdout
    cli_replays = await dlq(dlq_env, "replays", "--json")
    assert json.loads(cli_replays.stdout) == await (await client.get("/dlq/replays", headers=ADMIN)).json()
    replay_id = json.loads(cli_replays.stdout)[0]["id"]
    one = await dlq(dlq_env, "replays", replay_id, "--json")
    assert json.loads(one.stdout)["replayed"] == 4
    resumed = await dlq(dlq_env, "replay", "--resume", replay_id, "--yes")
    assert resumed.exit_code == 0 and "nothing left to send" in resumed.stdout
    replayed = await dlq(dlq_env, "list", "--replayed", "yes", "--json")
    assert json.loads(replayed.stdout)["count"] == 4

    # errors: usage errors exit 2 before touching anything, unknown ids exit 1
    for args, code, text in [
        (["list", "--since", "soon"], 2, "since"),
        (["list", "--replayed", "maybe"], 2, "maybe"),
        (["stats", "--error-category", "oops"], 2, "error_category"),
        (["show", "not-an-id"], 2, "not <partition>-<offset>"),
        (["replay", "--rate", "0", "--yes"], 2, "rate"),
        (["replay", "--resume", replay_id, "--force"], 2, "--resume takes no filters"),
        (["show", "0-99999"], 1, "no dead letter"),
        (["replays", "nope"], 1, "no replay"),
        (["replay", "--resume", "nope", "--yes"], 1, "no replay"),
        (["replay", "--actor", "sre:dana", "--yes"], 2, "--actor needs --direct"),
    ]:
        result = await dlq(dlq_env, *args)
        assert result.exit_code == code, (args, result.output)
        assert text in result.output, (args, result.output)


async def test_cli_default_token_file_bad_token_and_unreachable_api(
    client: aiohttp.ClientSession, dlq_service: DlqReplayerApp, tmp_path: Path
) -> None:
    del client  # requested so the service is ready
    # A fresh terminal after `make run`: no token given, the dev token file of the run directory is used.
    (tmp_path / "admin_token").write_text(TOKEN + "\n")
    fresh = await dlq(http_env(dlq_service, tmp_path, token=None), "replays", "--json")
    assert fresh.exit_code == 0, fresh.output
    assert json.loads(fresh.stdout) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = await dlq(http_env(dlq_service, empty, token=None), "list")
    assert (
        missing.exit_code == 1
        and "missing bearer token" in missing.output
        and "CAREHOOKS_TOKEN" in missing.output
    )
    wrong = await dlq(http_env(dlq_service, tmp_path, token="not-a-token"), "list")
    assert wrong.exit_code == 1 and "unknown or revoked token" in wrong.output
    down = await dlq({**http_env(dlq_service, tmp_path), "CAREHOOKS_DLQ_URL": "http://127.0.0.1:1"}, "list")
    assert down.exit_code == 1 and "cannot reach http://127.0.0.1:1" in down.output
    flag = await dlq(http_env(dlq_service, tmp_path), "--url", "ftp://x", "list")
    assert flag.exit_code == 1 and "must start with http://" in flag.output


async def test_direct_mode_clear_errors_for_bad_settings_and_unreachable_broker(
    dlq_env: dict[str, str],
) -> None:
    unreachable = await dlq({**dlq_env, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}, "--direct", "list")
    assert unreachable.exit_code == 1 and "cannot reach Kafka at 127.0.0.1:1" in unreachable.output
    bad = await dlq(
        {**dlq_env, "DATABASE_URL": "mysql://x", "WEBHOOK_SECRETS_KEY": "short"}, "--direct", "list"
    )
    assert bad.exit_code == 2
    assert (
        "invalid setting DATABASE_URL" in bad.output and "invalid setting WEBHOOK_SECRETS_KEY" in bad.output
    )


async def test_direct_mode_lists_and_replays(
    kafka_bootstrap: str, topics: Topics, dlq_env: dict[str, str]
) -> None:
    await publish_webhooks(kafka_bootstrap, topics, [webhook("wh-a")])
    await produce_letters(kafka_bootstrap, topics, [letter(i, at=utcnow(), webhook="wh-a") for i in range(2)])
    listed = await dlq(dlq_env, "--direct", "list", "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout)["count"] == 2
    done = await dlq(dlq_env, "--direct", "replay", "--yes", "--rate", "500", "--actor", "sre:dana")
    assert done.exit_code == 0 and "completed" in done.stdout, done.output
    jobs = await read_jobs(kafka_bootstrap, topics.deliveries, expected=2)
    assert all(j.replay and j.replay.requested_by == "sre:dana" for _, j, _ in jobs)
