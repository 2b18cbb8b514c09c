"""Settings validation and the ``python -m config_api`` entry point (bad settings, port taken)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from pydantic import ValidationError

from config_api.settings import ConfigApiSettings
from service_kit.settings import format_settings_error
from webhook_core.secrets_crypto import generate_key


def test_defaults_and_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/carehooks")
    monkeypatch.setenv("WEBHOOK_SECRETS_KEY", generate_key())
    monkeypatch.setenv("ADMIN_TOKEN", "bootstrap-" + "x" * 30)
    monkeypatch.setenv("DELIVERY_LOG_RETENTION_DAYS", "7")
    monkeypatch.setenv("CONFIG_API_PORT", "9999")
    settings = ConfigApiSettings()  # type: ignore[call-arg]
    assert (settings.host, settings.port) == ("127.0.0.1", 9999)
    assert settings.admin_token_value == "bootstrap-" + "x" * 30
    assert settings.delivery_log_retention_days == 7
    assert settings.auto_disable_after_failures == 10 and settings.auto_disable_after_s == 5 * 86400
    assert settings.max_body_bytes == 256 * 1024


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"DATABASE_URL": "mysql://x@h/db"},
            "invalid setting DATABASE_URL: Value error, must be a PostgreSQL DSN",
        ),
        ({}, "invalid setting DATABASE_URL: is required but not set"),
        ({"DATABASE_URL": "postgresql://h/db", "CONFIG_API_PORT": "http"}, "invalid setting CONFIG_API_PORT"),
        (
            {"DATABASE_URL": "postgresql://h/db", "ADMIN_TOKEN": "admin"},
            "invalid setting ADMIN_TOKEN: Value error, must be at least 32 characters (got 5)",
        ),
        (
            {"DATABASE_URL": "postgresql://h/db", "WEBHOOK_ALLOWED_PORTS": "443,99999"},
            "invalid setting WEBHOOK_ALLOWED_PORTS: Value error, '99999' is outside 1-65535",
        ),
    ],
)
def test_bad_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], line: str
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("WEBHOOK_SECRETS_KEY", generate_key())
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError) as info:
        ConfigApiSettings()  # type: ignore[call-arg]
    assert line in format_settings_error(info.value, ConfigApiSettings)


def _run_main(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "config_api"], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_main_exits_2_on_bad_settings_and_1_when_the_port_is_taken() -> None:
    base = {"PATH": "/usr/bin:/bin", "WEBHOOK_SECRETS_KEY": generate_key()}
    bad = _run_main({**base, "DATABASE_URL": "sqlite:///x.db"})
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("invalid setting DATABASE_URL:")

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = _run_main(
            {**base, "DATABASE_URL": "postgresql://u@127.0.0.1:1/db", "CONFIG_API_PORT": str(port)}
        )
    assert busy.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: already in use" in busy.stderr


def test_topic_is_behind_table() -> None:
    from config_api.webhooks.snapshot import topic_is_behind

    cases = [
        ({"a": 2}, set(), {"a": 2}, set(), False),
        ({"a": 2}, set(), {"a": 3}, set(), False),  # newer on the topic: a change after the read
        ({"a": 2}, set(), {"a": 1}, set(), True),
        ({"a": 2}, set(), {}, set(), True),
        ({}, set(), {"b": 1}, set(), True),  # deleted webhook still on the topic
        ({}, {"sm"}, {}, set(), True),
        ({}, {"sm"}, {}, {"sm"}, False),
        ({}, set(), {}, set(), False),
    ]
    for db, rules, topic, topic_rules, expected in cases:
        assert topic_is_behind(db, rules, topic, topic_rules) is expected, (db, rules, topic, topic_rules)
