"""The FastStream intake's wiring: manual acknowledgement, no auto-commit, security passed through."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import anyio
import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import ConsumerStoppedError
from faststream import AckPolicy
from faststream.security import BaseSecurity, SASLScram512

from dispatcher.app import create_app
from dispatcher.intake import POLL_TIMEOUT_MS, faststream_security
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


class _Consumer:
    """Answers ``getmany`` from a script: a dict of batches per call, then stops the loop."""

    def __init__(self, *answers: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[int, int]] = []

    async def getmany(
        self, *, timeout_ms: int, max_records: int
    ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        self.calls.append((timeout_ms, max_records))
        if not self.answers:
            raise ConsumerStoppedError
        return self.answers.pop(0)


def _record(topic: str, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, 0, offset, 0, 0, b"k", b"v", None, 1, 1, [])


async def test_the_poll_returns_every_partition_s_records_in_one_batch(secrets_key: str) -> None:
    intake = create_app(_settings(secrets_key, max_batch=77)).intake
    a, b = TopicPartition("a", 0), TopicPartition("b", 1)
    consumer = _Consumer({a: [_record("a", 1), _record("a", 2)], b: [_record("b", 9)]})
    batch = await intake.get_msg(consumer)
    assert [(r.topic, r.offset) for r in batch] == [("a", 1), ("a", 2), ("b", 9)]
    assert consumer.calls == [(POLL_TIMEOUT_MS, 77)]


async def test_faststream_s_loop_polls_again_at_once_after_an_empty_poll(
    secrets_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastStream's own batch poll sleeps ``batch_timeout_ms`` after an empty poll (10 idle wake-ups a
    second, and that much more wait for the first record of a quiet spell); the intake's does not, and
    FastStream's consume loop must be the one calling it."""

    async def no_sleep(*_: object) -> None:
        raise AssertionError("the intake slept after an empty poll")

    monkeypatch.setattr(anyio, "sleep", no_sleep)
    intake = create_app(_settings(secrets_key)).intake
    consumer = _Consumer({}, {})
    intake.running = True
    await asyncio.wait_for(intake._run_consume_loop(consumer), 5)
    assert [timeout for timeout, _ in consumer.calls] == [POLL_TIMEOUT_MS] * 3
