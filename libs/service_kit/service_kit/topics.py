"""``python -m service_kit.topics plan|apply [--file deploy/topics.yaml]``: provision the topics.

``plan`` prints how the cluster differs from the desired-state file; ``apply`` creates missing topics
and raises partition counts, and only reports what it will not change (see service_kit.topic_plan).
Connection (KAFKA_BOOTSTRAP_SERVERS and the TLS/SASL settings) and names (TOPIC_PREFIX, TOPICS) come
from the same environment variables as the services. Exit status: 0 done, 1 Kafka refused or failed
an action, 2 bad arguments, settings or file.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, for_code
from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from contracts.topics import Topics
from service_kit.kafka import admin_client
from service_kit.kafka_security import KafkaClientSettings
from service_kit.settings import load_settings
from service_kit.topic_plan import (
    Action,
    Change,
    ClusterTopic,
    TopicsFileError,
    TopicSpec,
    load_topics_file,
    plan,
)

TOPIC_ALREADY_EXISTS = 36


class TopicsCommandSettings(KafkaClientSettings):
    """What the command reads from the environment (no service secrets needed)."""

    # As CommonSettings: TOPICS='{"deliveries": "x"}' or TOPICS__DELIVERIES=x.
    model_config = SettingsConfigDict(
        env_ignore_empty=True, extra="ignore", env_nested_delimiter="__", populate_by_name=True
    )

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers"),
    )
    topic_prefix: str = Field(default="", validation_alias=AliasChoices("TOPIC_PREFIX", "topic_prefix"))
    topics_override: Topics = Field(
        default_factory=Topics, validation_alias=AliasChoices("TOPICS", "topics_override")
    )


async def read_cluster(admin: AIOKafkaAdminClient, names: Sequence[str]) -> dict[str, ClusterTopic]:
    """Partitions, replication factor and configs of those of ``names`` that exist."""
    existing = set(await admin.list_topics())
    present = [n for n in names if n in existing]
    if not present:
        return {}
    configs = await _read_configs(admin, present)
    out = {}
    for topic in await admin.describe_topics(present):
        partitions = topic["partitions"]
        replicas = max((len(p["replicas"]) for p in partitions), default=0)
        name = topic["topic"]
        out[name] = ClusterTopic(name, len(partitions), replicas, configs.get(name, {}))
    return out


async def _read_configs(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
    out: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        # DescribeConfigs v0-2: (error_code, error_message, resource_type, resource_name, config_entries)
        for resource in response.resources:
            out[resource[3]] = {entry[0]: entry[1] for entry in resource[4] if entry[1] is not None}
    return out


async def apply_change(admin: AIOKafkaAdminClient, change: Change) -> str | None:
    """Carry out one create or raise; returns an error line, or None when done."""
    spec: TopicSpec = change.spec
    try:
        if change.action is Action.CREATE:
            new = NewTopic(spec.name, spec.partitions, spec.replication_factor, topic_configs=spec.configs())
            response: Any = await admin.create_topics([new])
            for _name, code, *rest in response.topic_errors:
                if code not in (0, TOPIC_ALREADY_EXISTS):
                    message = rest[0] if rest and rest[0] else for_code(code).__name__
                    return f"cannot create {spec.name}: {message}"
        elif change.action is Action.RAISE_PARTITIONS:
            await admin.create_partitions({spec.name: NewPartitions(total_count=spec.partitions)})
    except KafkaError as exc:
        return f"cannot {change.action.value} {spec.name}: {exc}"
    return None


async def run(command: str, desired: list[TopicSpec], settings: TopicsCommandSettings) -> int:
    """Print the plan; with ``apply`` also carry it out. Returns the exit status."""
    admin = admin_client(settings.kafka_bootstrap_servers, settings)
    try:
        await admin.start()
        changes = plan(desired, await read_cluster(admin, [s.name for s in desired]))
        for change in changes:
            print(change.line())  # noqa: T201 - the command's output
        todo = [c for c in changes if c.applies]
        print(  # noqa: T201 - the command's output
            f"{len(desired)} topics: {sum(c.action is Action.CREATE for c in changes)} to create, "
            f"{sum(c.action is Action.RAISE_PARTITIONS for c in changes)} to raise, "
            f"{len(changes) - len(todo)} differences left alone"
        )
        if command == "plan":
            return 0
        failures = [e for c in todo if (e := await apply_change(admin, c)) is not None]
        for error in failures:
            print(f"error   {error}", file=sys.stderr)  # noqa: T201 - the command's output
        print(f"applied {len(todo) - len(failures)} of {len(todo)} changes")  # noqa: T201
        return 1 if failures else 0
    finally:
        await admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service_kit.topics", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("plan", "apply"))
    parser.add_argument("--file", type=Path, default=Path("deploy/topics.yaml"), help="desired-state file")
    parser.add_argument(
        "--replication-factor",
        type=int,
        default=None,
        help="override every topic's replication factor (e.g. 1 for a one-broker cluster); "
        "min.insync.replicas is capped at it",
    )
    args = parser.parse_args(argv)
    if args.replication_factor is not None and args.replication_factor < 1:
        parser.error("--replication-factor must be at least 1")
    settings = load_settings(TopicsCommandSettings)
    try:
        spec_file = load_topics_file(args.file)
    except TopicsFileError as exc:
        print(exc, file=sys.stderr)  # noqa: T201 - the command's output
        return 2
    topics = settings.topics_override.with_prefix(settings.topic_prefix)
    desired = spec_file.for_cluster(topics, args.replication_factor)
    try:
        return asyncio.run(run(args.command, desired, settings))
    except KafkaError as exc:
        print(f"cannot reach Kafka at {settings.kafka_bootstrap_servers}: {exc}", file=sys.stderr)  # noqa: T201
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
