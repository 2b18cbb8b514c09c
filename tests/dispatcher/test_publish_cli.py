"""The publish command's choice of topic, key and headers (pure)."""

from __future__ import annotations

import pytest
from dispatcher_helpers import SAMPLES

from dispatcher.publish_cli import UsageError, build_message, build_parser


def _message(path: str, *args: str):  # type: ignore[no-untyped-def]
    return build_message((SAMPLES / path).read_bytes(), build_parser().parse_args([path, *args]))


def test_fhir_resource() -> None:
    msg = _message(
        "fhir/appointment.json", "--interaction", "delete", "--integration-id", "ehr2", "--topic-prefix", "p."
    )
    assert msg.topic == "p.integrations.fhir.events"
    assert msg.key == b"Appointment/example"
    assert msg.headers == [("integration-id", b"ehr2"), ("fhir-interaction", b"delete")]


def test_bundle_and_surveymonkey() -> None:
    assert _message("fhir/transaction_bundle.json").key == b"Bundle/tx-1"
    msg = _message("surveymonkey/response_completed.json")
    assert (msg.topic, msg.key, msg.headers) == ("integrations.surveymonkey.events", b"123456", [])


@pytest.mark.parametrize(
    ("raw", "args", "message"),
    [
        (b"nope", [], "input is not JSON"),
        (b'{"a": 1}', [], "cannot tell the source"),
        (b'{"event_type": "x"}', ["--interaction", "create"], "--interaction only applies to FHIR"),
    ],
)
def test_usage_errors(raw: bytes, args: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        build_message(raw, build_parser().parse_args(["-", *args]))


def test_raw_bytes_with_explicit_source() -> None:
    msg = build_message(b"not json", build_parser().parse_args(["-", "--source", "fhir"]))
    assert (msg.topic, msg.key, msg.value) == ("integrations.fhir.events", None, b"not json")


def test_make_runs_kafka_settings_are_defaults_in_a_fresh_terminal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dispatcher.publish_cli import dev_kafka_defaults

    (tmp_path / "env").write_text(
        "# Written by make run\n"
        "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092\n"
        "KAFKA_ENABLE_IDEMPOTENCE=false\n"
        "TOPIC_PREFIX='dev. x'\n"
        "ADMIN_TOKEN=not-for-publish\n"
        "WEBHOOK_SECRETS_KEY=not-for-publish\n"
    )
    environ = {"CAREHOOKS_RUN_DIR": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": "explicit:9092"}
    dev_kafka_defaults(environ)
    assert environ["KAFKA_ENABLE_IDEMPOTENCE"] == "false"  # the embedded broker's need, read from the file
    assert environ["KAFKA_BOOTSTRAP_SERVERS"] == "explicit:9092"  # what is set wins
    assert environ["TOPIC_PREFIX"] == "dev. x"
    assert "ADMIN_TOKEN" not in environ and "WEBHOOK_SECRETS_KEY" not in environ
