"""The FastStream intake's wiring: manual acknowledgement, no auto-commit, security passed through."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from faststream import AckPolicy
from faststream.security import BaseSecurity, SASLScram512

from dispatcher.app import create_app
from dispatcher.intake import faststream_security
from dispatcher.settings import DispatcherSettings


def _settings(secrets_key: str, **fields: Any) -> DispatcherSettings:
    return DispatcherSettings(
        kafka_bootstrap_servers="localhost:9092", webhook_secrets_key=secrets_key, **fields
    )


def test_batch_subscriber_with_manual_ack_and_no_auto_commit(secrets_key: str) -> None:
    app = create_app(_settings(secrets_key, max_batch=123))
    intake = app.intake
    assert intake.max_records == 123
    assert intake.ack_policy is AckPolicy.MANUAL
    assert intake._connection_args["enable_auto_commit"] is False
    assert intake._connection_args["auto_offset_reset"] == "earliest"
    assert {t.name for t in intake.topics} == {
        app.topics.fhir_events,
        app.topics.surveymonkey_events,
        app.topics.ops,
    }


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"security_protocol": "PLAINTEXT"}, None),
        ({"security_protocol": "SSL", "ssl_context": "ctx"}, BaseSecurity),
        (
            {
                "security_protocol": "SASL_SSL",
                "ssl_context": "ctx",
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_plain_username": "u",
                "sasl_plain_password": "p",
            },
            SASLScram512,
        ),
    ],
)
def test_security_options_become_faststream_security(options: dict[str, Any], expected: type | None) -> None:
    context = ssl.create_default_context() if "ssl_context" in options else None
    if context is not None:
        options = {**options, "ssl_context": context}
    security = faststream_security(options)
    if expected is None:
        assert security is None
        return
    assert type(security) is expected
    assert security is not None and security.use_ssl and security.ssl_context is context
    if isinstance(security, SASLScram512):
        assert (security.username, security.password) == ("u", "p")
