"""``publish``: send a SurveyMonkey callback body or a FHIR resource/Bundle to the dispatcher's input topic.

    publish samples/fhir/appointment.json --interaction create
    publish --integration-id surveymonkey < samples/surveymonkey/response_completed.json

The topic is chosen from the content (``resourceType`` -> FHIR, ``event_type`` -> SurveyMonkey) unless
``--source`` says otherwise; ``KAFKA_BOOTSTRAP_SERVERS`` and ``TOPIC_PREFIX`` are honoured as by the
services. Exit status: 0 published, 1 the broker failed, 2 bad arguments or input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
from collections.abc import MutableMapping
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from contracts.catalogs import FHIR_INTERACTIONS
from contracts.topics import Headers, Topics
from service_kit.admin_client import dev_run_file
from service_kit.kafka import producer_options
from service_kit.kafka_security import KafkaClientSettings
from service_kit.settings import load_settings


class UsageError(ValueError):
    """Bad arguments or input; the message is printed as is."""


@dataclass(frozen=True)
class Message:
    """What to send."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="publish", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("file", nargs="?", default="-", help="JSON file to send ('-' or omitted: stdin)")
    parser.add_argument("--source", choices=["auto", "surveymonkey", "fhir"], default="auto")
    parser.add_argument(
        "--integration-id", help="integration-id header (dispatcher default: surveymonkey / ehr)"
    )
    parser.add_argument(
        "--interaction", choices=FHIR_INTERACTIONS, help="fhir-interaction header (FHIR only)"
    )
    parser.add_argument("--key", help="Kafka key (default: the object id)")
    parser.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        help="host:port",
    )
    parser.add_argument("--topic-prefix", default=os.environ.get("TOPIC_PREFIX", ""))
    return parser


def build_message(raw: bytes, args: argparse.Namespace) -> Message:
    """Choose topic, key and headers for the input (raises UsageError)."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        if args.source == "auto":
            raise UsageError(f"input is not JSON ({exc}); pass --source to send it anyway") from None
        doc = None
    source = args.source
    if source == "auto":
        if isinstance(doc, dict) and "resourceType" in doc:
            source = "fhir"
        elif isinstance(doc, dict) and "event_type" in doc:
            source = "surveymonkey"
        else:
            raise UsageError(
                "cannot tell the source: no resourceType (FHIR) or event_type (SurveyMonkey); use --source"
            )
    if args.interaction and source != "fhir":
        raise UsageError("--interaction only applies to FHIR input")
    topics = Topics().with_prefix(args.topic_prefix)
    headers: list[tuple[str, bytes]] = []
    if args.integration_id:
        headers.append((Headers.INTEGRATION_ID, args.integration_id.encode()))
    if args.interaction:
        headers.append((Headers.FHIR_INTERACTION, args.interaction.encode()))
    key = args.key
    if key is None and isinstance(doc, dict):
        if source == "fhir" and isinstance(doc.get("id"), str):
            key = f"{doc.get('resourceType')}/{doc['id']}"
        elif source == "surveymonkey" and doc.get("object_id") is not None:
            key = str(doc["object_id"])
    topic = topics.fhir_events if source == "fhir" else topics.surveymonkey_events
    return Message(topic, key.encode() if key else None, raw, headers)


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


async def send(message: Message, bootstrap_servers: str, client: KafkaClientSettings) -> tuple[int, int]:
    """Publish and wait for the broker's ack; returns (partition, offset)."""
    options = producer_options(bootstrap_servers, client)
    options["request_timeout_ms"] = 10_000
    producer = AIOKafkaProducer(**options)
    await producer.start()
    try:
        meta = await producer.send_and_wait(
            message.topic, message.value, key=message.key, headers=message.headers
        )
    finally:
        await producer.stop()
    return meta.partition, meta.offset


def dev_kafka_defaults(environ: MutableMapping[str, str] | None = None) -> None:
    """``make run``'s Kafka settings (``<run dir>/env``) as defaults, so ``publish`` works in a fresh
    terminal: the embedded broker needs a non-idempotent producer, which a real cluster's defaults
    would not give. Variables already set win; nothing else from that file (token, keys) is read."""
    target = os.environ if environ is None else environ
    path = dev_run_file("env", target)
    if path is None:
        return
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and (name.startswith("KAFKA_") or name in ("TOPIC_PREFIX", "TOPICS")):
            words = shlex.split(value)
            target.setdefault(name, words[0] if words else "")


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit status."""
    dev_kafka_defaults()
    args = build_parser().parse_args(argv)
    try:
        message = build_message(_read(args.file), args)
    except UsageError as exc:
        sys.stderr.write(f"publish: {exc}\n")
        return 2
    client = load_settings(KafkaClientSettings)  # TLS/SASL from the same KAFKA_* variables as the services
    try:
        partition, offset = asyncio.run(send(message, args.bootstrap_servers, client))
    except KafkaError as exc:
        sys.stderr.write(f"publish: cannot publish to {args.bootstrap_servers}: {exc}\n")
        return 1
    sys.stdout.write(f"published to {message.topic} partition {partition} offset {offset}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
