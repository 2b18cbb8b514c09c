"""``python -m dispatcher`` as a process, fed by the ``publish`` command's main() with a sample file."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from unittest.mock import patch

import pytest
from dispatcher_helpers import SAMPLES, webhook
from dispatcher_kafka import Bus, http_get, read_job

from contracts.topics import Topics
from devstack.ports import free_port
from dispatcher.publish_cli import main
from dispatcher.settings import DispatcherSettings
from service_kit.settings import load_settings

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def _publish(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """The publish command's main() in a worker thread (it runs its own event loop), with env and output."""

    def run() -> tuple[int, str, str]:
        with (
            patch.dict(os.environ, env),
            redirect_stdout(io.StringIO()) as out,
            redirect_stderr(io.StringIO()) as err,
        ):
            code = main(list(args))
        return code, out.getvalue(), err.getvalue()

    return await asyncio.to_thread(run)


async def test_process_and_publish_command(
    kafka_bootstrap: str, topics: Topics, service_env: dict[str, str]
) -> None:
    port = free_port()
    env = {
        **os.environ,
        **service_env,
        "DISPATCHER_PORT": str(port),
        "DISPATCHER_GROUP_ID": f"{service_env['TOPIC_PREFIX']}dispatcher",
        "DISPATCHER_SESSION_TIMEOUT_MS": "2000",
        "DISPATCHER_HEARTBEAT_INTERVAL_MS": "500",
    }
    async with Bus(kafka_bootstrap, topics) as bus:
        await bus.config(webhook("w", event_types=["Appointment.create"]))
        proc = subprocess.Popen(
            [sys.executable, "-m", "dispatcher"], env=env, stderr=subprocess.PIPE, text=True
        )
        try:
            for _ in range(300):
                try:
                    if (await http_get(f"http://127.0.0.1:{port}/readyz"))[0] == 200:
                        break
                except OSError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("dispatcher never became ready")
            code, stdout, stderr = await _publish(
                env, str(SAMPLES / "fhir/appointment.json"), "--interaction", "create"
            )
            assert code == 0, stderr
            assert stdout.startswith(f"published to {topics.fhir_events} partition ")
            (record,) = await bus.collect(1, topics.deliveries)
            job = read_job(record.value, service_env["WEBHOOK_SECRETS_KEY"])
            assert (job.webhook_id, job.event_type) == ("w", "Appointment.create")
            assert json.loads(job.body)["data"]["id"] == "example"
            bad = await _publish(
                env, "--interaction", "create", str(SAMPLES / "surveymonkey/contact_created.json")
            )
            assert bad == (2, "", "publish: --interaction only applies to FHIR input\n")
        finally:
            proc.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.to_thread(proc.communicate, timeout=30)
        assert proc.returncode == 0, stderr[-2000:]


def test_bad_settings_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("WEBHOOK_SECRETS_KEY", "short")
    monkeypatch.setenv("DISPATCHER_PHONE_REGION", "XX")
    monkeypatch.setenv("DISPATCHER_HEARTBEAT_INTERVAL_MS", "9000")
    with pytest.raises(SystemExit) as info:
        load_settings(DispatcherSettings)
    assert info.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("invalid setting WEBHOOK_SECRETS_KEY: ")
    assert lines[1].startswith("invalid setting DISPATCHER_PHONE_REGION: ")
    assert len(lines) == 2  # the heartbeat check runs only once the fields are valid
