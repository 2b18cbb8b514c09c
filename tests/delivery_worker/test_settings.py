"""Worker settings: defaults, prefix, and one clear line per bad value (exit 2)."""

from __future__ import annotations

import pytest

from delivery_worker.settings import WorkerSettings
from service_kit.settings import load_settings


def test_defaults_and_prefix(monkeypatch: pytest.MonkeyPatch, secrets_key: str) -> None:
    monkeypatch.setenv("WEBHOOK_SECRETS_KEY", secrets_key)
    monkeypatch.setenv("DELIVERY_WORKER_MAX_CONCURRENCY", "12")
    monkeypatch.setenv("TOPIC_PREFIX", "x.")
    s = load_settings(WorkerSettings)
    assert (s.host, s.port, s.max_concurrency, s.circuit_failure_threshold) == ("127.0.0.1", 9102, 12, 5)
    assert s.topics.retry_topics()[10] == "x.webhooks.deliveries.retry.10s"
    assert (s.producer_linger_ms, s.event_loop) == (5, "uvloop")


def test_event_loop_choice(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], secrets_key: str
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRETS_KEY", secrets_key)
    monkeypatch.setenv("EVENT_LOOP", "asyncio")
    assert load_settings(WorkerSettings).event_loop == "asyncio"
    monkeypatch.setenv("EVENT_LOOP", "trio")
    with pytest.raises(SystemExit) as exc:
        load_settings(WorkerSettings)
    assert exc.value.code == 2
    assert "invalid setting EVENT_LOOP:" in capsys.readouterr().err


def test_bad_values_named_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], secrets_key: str
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRETS_KEY", secrets_key)
    monkeypatch.setenv("DELIVERY_WORKER_MAX_CONCURRENCY", "0")
    monkeypatch.setenv("DELIVERY_WORKER_PORT", "http")
    with pytest.raises(SystemExit) as exc:
        load_settings(WorkerSettings)
    assert exc.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("invalid setting DELIVERY_WORKER_MAX_CONCURRENCY:") for line in err), err
    assert any(line.startswith("invalid setting DELIVERY_WORKER_PORT:") for line in err), err
