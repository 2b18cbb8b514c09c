"""Topic provisioning: the desired-state file, the plan (table-tested), the command on the real broker,
and services refusing to start when their topics are missing and auto-creation is off."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka.admin import NewTopic

from contracts.topics import Topics
from service_kit.kafka import admin_client, ensure_topics, missing_topics, prepare_topics
from service_kit.kafka_security import KafkaClientSettings, embedded_broker_client
from service_kit.topic_plan import (
    Action,
    ClusterTopic,
    TopicsFileError,
    TopicSpec,
    load_topics_file,
    plan,
)
from service_kit.topics import read_cluster

REPO = Path(__file__).resolve().parents[2]
TOPICS_FILE = REPO / "deploy" / "topics.yaml"


def spec(name: str = "t", partitions: int = 6, policy: str = "delete", retention: int = 1000) -> TopicSpec:
    return TopicSpec.model_validate(
        {
            "name": name,
            "partitions": partitions,
            "replication_factor": 1,
            "cleanup.policy": policy,
            "retention.ms": retention,
            "min.insync.replicas": 1,
            "max.message.bytes": 5242880,
        }
    )


def have(partitions: int = 6, rf: int = 1, **configs: str) -> ClusterTopic:
    base = {"cleanup.policy": "delete", "retention.ms": "1000"}
    return ClusterTopic("t", partitions, rf, {**base, **{k.replace("_", "."): v for k, v in configs.items()}})


@pytest.mark.parametrize(
    ("desired", "cluster", "expected"),
    [
        (spec(), None, [Action.CREATE]),
        (spec(), have(), []),
        (spec(partitions=12), have(partitions=6), [Action.RAISE_PARTITIONS]),
        (spec(partitions=3), have(partitions=6), [Action.KEEP]),  # never shrinks
        (spec(partitions=12, policy="compact"), have(partitions=6, cleanup_policy="compact"), [Action.KEEP]),
        (spec(retention=2000), have(), [Action.DRIFT]),
        (spec(), have(rf=3), [Action.KEEP]),
        (spec(partitions=12, retention=5), have(partitions=6), [Action.RAISE_PARTITIONS, Action.DRIFT]),
    ],
    ids=[
        "missing",
        "equal",
        "raise",
        "never-shrink",
        "compacted-not-raised",
        "config-drift",
        "rf-drift",
        "both",
    ],
)
def test_plan_decisions(desired: TopicSpec, cluster: ClusterTopic | None, expected: list[Action]) -> None:
    changes = plan([desired], {"t": cluster} if cluster else {})
    assert [c.action for c in changes] == expected
    assert [c.applies for c in changes] == [a in (Action.CREATE, Action.RAISE_PARTITIONS) for a in expected]


def test_committed_file_covers_every_topic_with_prefix_and_override() -> None:
    spec_file = load_topics_file(TOPICS_FILE)
    assert sorted(t.name for t in spec_file.topics) == sorted(Topics().all_topics())
    names = Topics(deliveries="jobs").with_prefix("p.")
    desired = spec_file.for_cluster(names, replication_factor=1)
    assert sorted(t.name for t in desired) == sorted(names.all_topics())
    assert {t.replication_factor for t in desired} == {1}
    assert {t.min_insync_replicas for t in desired} == {1}
    config = next(t for t in desired if t.name == names.webhooks_config)
    assert config.compacted and config.retention_ms == -1


def test_file_missing_a_topic_names_it(tmp_path: Path) -> None:
    text = TOPICS_FILE.read_text().replace("- name: webhooks.ops", "- name: webhooks.opz")
    path = tmp_path / "topics.yaml"
    path.write_text(text)
    with pytest.raises(TopicsFileError, match=r"missing: webhooks\.ops; unknown: webhooks\.opz"):
        load_topics_file(path)


def _command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "service_kit.topics",
            *args,
            "--file",
            str(TOPICS_FILE),
            "--replication-factor",
            "1",
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.integration
async def test_plan_and_apply_on_the_broker(kafka_bootstrap: str, topic_prefix: str) -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "TOPIC_PREFIX": topic_prefix}
    names = Topics().with_prefix(topic_prefix)
    # Two topics exist beforehand: the DLQ with more partitions than the file (3), the deliveries with fewer (12).
    admin = admin_client(kafka_bootstrap, embedded_broker_client())
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(names.deliveries_dlq, 8, 1),
                NewTopic(names.deliveries, 2, 1, topic_configs={"retention.ms": "1000"}),
            ]
        )
    finally:
        await admin.close()

    planned = await asyncio.to_thread(_command, env, "plan")
    assert planned.returncode == 0, planned.stderr
    lines = planned.stdout.splitlines()
    assert sum(line.startswith("create ") for line in lines) == len(names.all_topics()) - 2
    assert f"raise   {names.deliveries}  partitions 2 -> 12" in lines
    assert any(line.startswith(f"keep    {names.deliveries_dlq}  has 8 partitions") for line in lines)
    assert any(line.startswith(f"drift   {names.deliveries}  retention.ms is 1000") for line in lines)
    assert (
        await missing_topics(kafka_bootstrap, names, embedded_broker_client()) != []
    )  # plan changed nothing

    applied = await asyncio.to_thread(_command, env, "apply")
    # Tansu 0.6 has no CreatePartitions: the raise fails and is reported, everything else is applied.
    assert applied.returncode == 1
    assert f"cannot raise {names.deliveries}" in applied.stderr
    assert await missing_topics(kafka_bootstrap, names, embedded_broker_client()) == []
    admin = admin_client(kafka_bootstrap, embedded_broker_client())
    await admin.start()
    try:
        cluster = await read_cluster(admin, names.all_topics())
    finally:
        await admin.close()
    assert cluster[names.deliveries_dlq].partitions == 8  # never shrunk
    assert cluster[names.webhooks_config].configs["cleanup.policy"] == "compact"
    assert cluster[names.webhooks_config].partitions == 6
    assert cluster[names.deliveries_priority].configs["retention.ms"] == "259200000"

    again = await asyncio.to_thread(_command, env, "plan")
    assert [line.split()[0] for line in again.stdout.splitlines()[:-1]] == ["raise", "drift", "keep"]


@pytest.mark.integration
async def test_auto_created_topics_take_the_configured_partition_count(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    """KAFKA_AUTO_CREATE_PARTITIONS sizes what a service creates at start; an explicit count wins;
    existing topics are left as they are."""
    names = Topics().with_prefix(topic_prefix)
    admin = admin_client(kafka_bootstrap, embedded_broker_client())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(names.deliveries_dlq, 5, 1)])
    finally:
        await admin.close()
    client = KafkaClientSettings.model_construct(
        kafka_enable_idempotence=False, kafka_auto_create_topics=True, kafka_auto_create_partitions=3
    )
    await prepare_topics(kafka_bootstrap, names, client)
    explicit = Topics().with_prefix(f"{topic_prefix}x.")
    await ensure_topics(kafka_bootstrap, explicit, client, partitions=1)
    admin = admin_client(kafka_bootstrap, embedded_broker_client())
    await admin.start()
    try:
        cluster = await read_cluster(admin, [*names.all_topics(), *explicit.all_topics()])
    finally:
        await admin.close()
    created = {cluster[name].partitions for name in names.all_topics() if name != names.deliveries_dlq}
    assert created == {3}  # compacted ones included
    assert cluster[names.deliveries_dlq].partitions == 5
    assert {cluster[name].partitions for name in explicit.all_topics()} == {1}
    assert embedded_broker_client().kafka_auto_create_partitions == 2  # what tests and benches create


@pytest.mark.integration
@pytest.mark.e2e
@pytest.mark.parametrize("module", ["dispatcher", "delivery_worker", "dlq_replayer", "config_api"])
async def test_service_exits_naming_missing_topics(
    module: str, kafka_bootstrap: str, topic_prefix: str, service_env: dict[str, str], database_url: str
) -> None:
    names = Topics().with_prefix(topic_prefix)
    # Some topics present, the rest missing: the line names exactly the missing ones.
    present = Topics(retry_tiers_s=()).with_prefix(topic_prefix)
    await ensure_topics(kafka_bootstrap, present, embedded_broker_client(), partitions=1)
    env = {
        **os.environ,
        **service_env,
        "KAFKA_AUTO_CREATE_TOPICS": "false",
        "DATABASE_URL": database_url,
        "ADMIN_TOKEN": "t" * 32,
        "CONFIG_API_PORT": "0",
        "DISPATCHER_PORT": "0",
        "DELIVERY_WORKER_PORT": "0",
        "DLQ_REPLAYER_PORT": "0",
    }
    proc = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1, proc.stderr
    wanted = ", ".join(names.retry_topics().values())
    errors = [line for line in proc.stderr.splitlines() if "topics missing" in line]
    assert len(errors) == 1, proc.stderr
    assert f"topics missing on {kafka_bootstrap}: {wanted} " in errors[0]
    assert "KAFKA_AUTO_CREATE_TOPICS" in errors[0]
