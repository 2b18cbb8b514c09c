"""The ``carehooks`` CLI against a config API listening on loopback (real PostgreSQL and broker)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cli_harness import LiveApi
from typer.testing import CliRunner, Result

from config_api.cli.main import app
from config_api.deliveries.health import Thresholds
from config_api.deliveries.store import store_results
from contracts.base import utcnow
from contracts.deliveries import DeliveryResultV1
from webhook_core.secrets_crypto import SecretBox

pytestmark = pytest.mark.integration


async def carehooks(api: LiveApi, *args: str, token: str | None = "default", **env: str | None) -> Result:
    """Run ``carehooks ARGS`` in a thread against the live API (an operator's terminal: no service settings)."""
    full: dict[str, str | None] = {
        "COLUMNS": "250",
        "CAREHOOKS_URL": api.url,
        "CAREHOOKS_TOKEN": api.token if token == "default" else token,
        "CAREHOOKS_RUN_DIR": "/nonexistent",
        "DATABASE_URL": None,
        "WEBHOOK_SECRETS_KEY": None,
        "ADMIN_TOKEN": None,
        **env,
    }
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=full, catch_exceptions=False)


def ok(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
async def receiver() -> AsyncIterator[str]:
    async def hook(request: web.Request) -> web.Response:
        return web.Response(status=200 if request.path == "/ok" else 500, text="hello")

    runner = web.AppRunner(web.Application(handler_args=None))
    runner.app.router.add_post("/{name}", hook)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    await runner.cleanup()


async def test_webhook_lifecycle_through_the_cli(live_api: LiveApi, receiver: str) -> None:
    integrations = ok(await carehooks(live_api, "integrations", "list", "--json"))
    assert "surveymonkey" in {i["id"] for i in integrations["items"]}
    listed = await carehooks(live_api, "integrations", "list")
    assert "surveymonkey" in listed.stdout and "integration(s)" in listed.stdout

    created = ok(
        await carehooks(
            live_api, "webhooks", "create", "surveymonkey", "--url", f"{receiver}/ok",
            "-e", "response_completed", "--name", "crm", "--description", "CRM sync", "--set", "timeout_ms=4000",
            "--json",
        )
    )  # fmt: skip
    wh = created["id"]
    assert created["signing_secret"].startswith("whsec_") and created["timeout_ms"] == 4000
    human = await carehooks(
        live_api,
        "webhooks",
        "create",
        "surveymonkey",
        "--url",
        f"{receiver}/fail",
        "-e",
        "response_completed",
    )
    assert human.exit_code == 0 and "signing secret (shown once): whsec_" in human.stdout

    page = ok(await carehooks(live_api, "webhooks", "list", "surveymonkey", "--json"))
    assert page["total"] == 2 and {w["name"] for w in page["items"]} >= {"crm"}
    searched = ok(
        await carehooks(live_api, "webhooks", "list", "surveymonkey", "--search", "crm sync", "--json")
    )
    assert [w["id"] for w in searched["items"]] == [wh], (created.get("description"), searched)
    got = ok(await carehooks(live_api, "webhooks", "get", "surveymonkey", wh, "--json"))
    assert (got["subscription_url"], got["description"]) == (f"{receiver}/ok", "CRM sync")
    updated = ok(await carehooks(live_api, "webhooks", "update", "surveymonkey", wh, "--inactive", "--json"))
    assert updated["active"] is False
    assert ok(await carehooks(live_api, "webhooks", "update", "surveymonkey", wh, "--active", "--json"))[
        "active"
    ]

    tested = await carehooks(live_api, "webhooks", "test", "surveymonkey", wh)
    assert tested.exit_code == 0 and "200" in tested.stdout
    failing = next(w for w in page["items"] if w["id"] != wh)["id"]
    failed = await carehooks(live_api, "webhooks", "test", "surveymonkey", failing, "--json")
    assert failed.exit_code == 1 and json.loads(failed.stdout)["status_code"] == 500

    rotated = ok(
        await carehooks(
            live_api, "webhooks", "secret", "rotate", "surveymonkey", wh, "--grace", "60", "--json"
        )
    )
    assert rotated["secret"] != created["signing_secret"] and len(rotated["secrets"]) == 2

    # logs, status with the error breakdown, search, recovery (results stored through the ingest code)
    box = SecretBox(live_api.app.state.settings.secrets_key)
    now = utcnow()
    results = [
        DeliveryResultV1(
            delivery_id=f"msg_{n}", webhook_id=failing, integration_id="surveymonkey", event_id=f"ev-{n}",
            event_type="response_completed", object_type="response", object_id="resp-9", attempt=1,
            outcome="dead_lettered", status_code=503, error_category="http_5xx", attempted_at=now,
            payload_encrypted=box.encrypt("{}", f"delivery:msg_{n}"),
        )
        for n in range(3)
    ]  # fmt: skip
    async with live_api.app.state.pool.acquire() as conn:
        await store_results(conn, results, Thresholds(1000, 10**9))
    logs = ok(
        await carehooks(live_api, "webhooks", "logs", "surveymonkey", failing, "--since", "1h", "--json")
    )
    assert len(logs["items"]) == 3
    status = await carehooks(live_api, "webhooks", "status", "surveymonkey", failing)
    assert status.exit_code == 0 and "by status code" in status.stdout and "http_5xx" in status.stdout
    found = ok(
        await carehooks(live_api, "deliveries", "search", "surveymonkey", "--object-id", "resp-9", "--json")
    )
    assert {i["delivery_id"] for i in found["items"]} == {"msg_0", "msg_1", "msg_2"}
    table = await carehooks(live_api, "deliveries", "search", "surveymonkey", "--event-id", "ev-1")
    assert "msg_1" in table.stdout and "dead_lettered" in table.stdout

    recovered = ok(
        await carehooks(
            live_api,
            "webhooks",
            "recover",
            "surveymonkey",
            failing,
            "--since",
            "1h",
            "--rate",
            "100",
            "--json",
        )
    )
    assert (recovered["state"], recovered["sent"], recovered["total"]) == ("done", 3, 3)
    again = ok(
        await carehooks(live_api, "webhooks", "recover", "surveymonkey", failing, "--since", "1h", "--json")
    )
    assert (again["total"], again["already_recovered"]) == (0, 3)
    progress = ok(
        await carehooks(live_api, "webhooks", "recovery", "surveymonkey", failing, recovered["id"], "--json")
    )
    assert progress["id"] == recovered["id"]

    deleted = await carehooks(live_api, "webhooks", "delete", "surveymonkey", wh, "--yes")
    assert deleted.exit_code == 0
    gone = await carehooks(live_api, "webhooks", "get", "surveymonkey", wh)
    assert gone.exit_code == 1 and "not found" in gone.output


async def test_tokens_and_errors(live_api: LiveApi) -> None:
    made = ok(await carehooks(live_api, "tokens", "create", "--name", "ops", "--role", "operator", "--json"))
    assert made["token"] and made["role"] == "operator"
    listed = await carehooks(live_api, "tokens", "list")
    assert "ops" in listed.stdout and "operator" in listed.stdout
    as_operator = await carehooks(live_api, "tokens", "list", token=made["token"])
    assert as_operator.exit_code == 1 and "error:" in as_operator.output
    revoked = await carehooks(live_api, "tokens", "revoke", made["id"], "--yes")
    assert revoked.exit_code == 0
    after = await carehooks(live_api, "integrations", "list", token=made["token"])
    assert after.exit_code == 1 and "token" in after.output.lower()

    bad = await carehooks(
        live_api, "webhooks", "create", "surveymonkey", "--url", "not a url", "-e", "response_completed"
    )
    assert bad.exit_code == 2 and "subscription_url" in bad.output  # the server's 422, field named
    unknown = await carehooks(live_api, "webhooks", "list", "no-such-integration")
    assert unknown.exit_code == 1 and "no-such-integration" in unknown.output
    when = await carehooks(live_api, "webhooks", "logs", "surveymonkey", "wh_x", "--since", "soon")
    assert when.exit_code == 2 and "--since" in when.output
    no_token = await carehooks(live_api, "integrations", "list", token=None)
    assert no_token.exit_code == 1 and "CAREHOOKS_TOKEN" in no_token.output
    down = await carehooks(live_api, "integrations", "list", CAREHOOKS_URL="http://127.0.0.1:1")
    assert down.exit_code == 1 and "cannot reach http://127.0.0.1:1" in down.output


async def test_a_fresh_terminal_after_make_run_uses_the_dev_token_file(
    live_api: LiveApi, tmp_path: Path
) -> None:
    # What `make run` leaves behind: <repo>/.run/admin_token (mode 0600); the operator is somewhere in the repo.
    run_dir = tmp_path / ".run"
    run_dir.mkdir()
    (run_dir / "admin_token").write_text(live_api.token + "\n")
    (run_dir / "admin_token").chmod(0o600)
    cwd = tmp_path / "services"
    cwd.mkdir()
    env: Mapping[str, str] = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "CAREHOOKS_URL": live_api.url,
    }
    script = Path(sys.executable).parent / "carehooks"
    proc = await asyncio.to_thread(
        subprocess.run, [str(script), "integrations", "list", "--json"], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "surveymonkey" in {i["id"] for i in json.loads(proc.stdout)["items"]}
    since = (utcnow() - timedelta(hours=1)).isoformat()
    search = await asyncio.to_thread(
        subprocess.run, [str(script), "deliveries", "search", "surveymonkey", "--since", since], cwd=cwd,
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert search.returncode == 0 and "0 deliver" in search.stdout, search.stderr
