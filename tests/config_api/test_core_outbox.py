"""Publishing on webhooks.config: outbox order and versions, Kafka down then up, snapshots and resync."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from capi_harness import ApiHarness, make_settings, start_harness

from config_api.webhooks.outbox import pending_count
from contracts.topics import Topics
from contracts.webhooks import PriorityRulesV1, WebhookConfigV1
from devstack.broker import start_broker
from devstack.ports import free_port
from service_kit.kafka import consumer_options, ensure_topics, producer_options
from service_kit.kafka_security import embedded_broker_client
from webhook_core.secrets_crypto import SecretBox
from webhook_core.webhook_secrets import active_signing_secrets, decrypt_auth

pytestmark = pytest.mark.integration

BASE = "/admin/integration/surveymonkey/webhooks"
Record = tuple[str, bytes | None]


async def read_topic(bootstrap: str, topic: str) -> list[Record]:
    """Every record of the topic, partition by partition (order within a key is preserved)."""
    consumer = AIOKafkaConsumer(group_id=None, **consumer_options(bootstrap, embedded_broker_client(), 10))
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        for _ in range(50):
            if partitions:
                break
            await consumer.topics()
            partitions = consumer.partitions_for_topic(topic)
            await asyncio.sleep(0.1)
        assert partitions, topic
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Record] = []
        deadline = asyncio.get_running_loop().time() + 10
        # The embedded broker under-reports end offsets after batched sends: the end is reached
        # once past the reported offsets AND a fetch came back empty (as in service_kit's follower).
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                out.extend((r.key.decode(), r.value) for r in records if r.key is not None)
            lagging = [tp for tp in tps if await consumer.position(tp) < ends[tp]]
            if not lagging and not batches:
                return out
            if asyncio.get_running_loop().time() > deadline:
                positions = {tp.partition: (await consumer.position(tp), ends[tp]) for tp in lagging}
                raise AssertionError(f"cannot read {topic} to its end: {positions}; got {out!r:.1500}")
    finally:
        await consumer.stop()


async def wait_for(
    bootstrap: str, topic: str, done: Callable[[list[Record]], bool], timeout_s: float = 30.0
) -> list[Record]:
    """Read the topic until ``done`` holds."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        records = await read_topic(bootstrap, topic)
        if done(records):
            return records
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out; topic has {records!r:.2000}")
        await asyncio.sleep(0.2)


def versions(records: list[Record], key: str) -> list[int | None]:
    """Versions published for a key, in order (None = tombstone)."""
    return [
        None if value is None else WebhookConfigV1.model_validate_json(value).version
        for k, value in records
        if k == key
    ]


async def test_changes_are_published_in_order_with_encrypted_secrets(
    api: ApiHarness, kafka_bootstrap: str, topics: Topics
) -> None:
    created = await api.create_webhook(auth={"type": "bearer", "token": "tok-abcdef"})
    wid = created["id"]
    await api.client.patch(f"{BASE}/{wid}", json={"priority": "high"})
    rotated = (await api.client.post(f"{BASE}/{wid}/secret/rotate", json={"grace_period_s": 600})).json()
    rules = await api.client.put(
        "/admin/integration/surveymonkey/priority-rules", json={"contact_ids": ["c-1"]}
    )
    assert rules.status_code == 200, rules.text
    topic = topics.webhooks_config
    records = await wait_for(
        kafka_bootstrap,
        topic,
        lambda r: versions(r, wid)[-1:] == [3] and any(k == "priority-rules/surveymonkey" for k, _ in r),
    )
    assert versions(records, wid) == [1, 2, 3]
    last = WebhookConfigV1.model_validate_json(next(v for k, v in reversed(records) if k == wid and v))
    box = SecretBox(api.settings.secrets_key)
    assert decrypt_auth(box, wid, last.auth_encrypted).model_dump() == {
        "type": "bearer",
        "token": "tok-abcdef",
    }
    assert active_signing_secrets(box, last) == [rotated["secret"], created["signing_secret"]]
    assert last.priority == "high" and last.integration_type == "surveymonkey"
    raw = b"".join(v or b"" for _, v in records)
    assert b"tok-abcdef" not in raw and created["signing_secret"].encode() not in raw
    rule_values = [v for k, v in records if k == "priority-rules/surveymonkey"]
    assert rule_values and PriorityRulesV1.model_validate_json(rule_values[-1] or b"").contact_ids == ["c-1"]

    assert (await api.client.delete(f"{BASE}/{wid}")).status_code == 204
    records = await wait_for(kafka_bootstrap, topic, lambda r: versions(r, wid)[-1:] == [None])
    assert versions(records, wid) == [1, 2, 3, None]
    for _ in range(100):  # the relay marks rows sent just after Kafka acknowledged them
        if await pending_count(api.app.state.pool) == 0:
            break
        await asyncio.sleep(0.05)
    assert await pending_count(api.app.state.pool) == 0


async def test_kafka_down_while_changing_config_then_up(
    database_url: str, service_env: dict[str, str], tmp_path: Any
) -> None:
    # Kafka is unreachable (nothing listens on the port) while config changes are made; the API
    # keeps working and the outbox holds the changes until a broker comes up on that port.
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    env = {**service_env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    names = Topics().with_prefix(env["TOPIC_PREFIX"])
    broker = None
    try:
        async with start_harness(make_settings(database_url, env)) as api:
            first = await api.create_webhook()
            patched = await api.client.patch(f"{BASE}/{first['id']}", json={"name": "changed while down"})
            assert patched.status_code == 200, patched.text
            second = await api.create_webhook(name="created while down")
            await asyncio.sleep(1.0)
            assert await pending_count(api.app.state.pool) == 3  # held in the outbox, nothing lost
            ready = (await api.client.get("/readyz")).json()
            assert ready["ready"] is True and ready["kafka"] is False

            broker = await asyncio.to_thread(start_broker, port=port, log_path=tmp_path / "broker.log")
            await ensure_topics(bootstrap, names, embedded_broker_client(), partitions=2)
            records = await wait_for(
                bootstrap,
                names.webhooks_config,
                lambda r: versions(r, first["id"])[-1:] == [2] and versions(r, second["id"])[-1:] == [1],
            )
            assert versions(records, first["id"])[:2] == [1, 2]  # in commit order
            latest = WebhookConfigV1.model_validate_json(
                next(v for k, v in reversed(records) if k == first["id"] and v)
            )
            assert latest.name == "changed while down"
            for _ in range(100):
                if await pending_count(api.app.state.pool) == 0:
                    break
                await asyncio.sleep(0.05)
            assert await pending_count(api.app.state.pool) == 0
            assert (await api.client.get("/readyz")).json()["kafka"] is True
    finally:
        if broker is not None:
            broker.stop()


async def test_snapshot_at_start_when_topic_is_empty_and_resync(
    database_url: str, service_env: dict[str, str], kafka_bootstrap: str, topics: Topics
) -> None:
    async with start_harness(make_settings(database_url, service_env)) as api:
        a = await api.create_webhook()
        b = await api.create_webhook(name="b")
        await api.client.patch(f"{BASE}/{b['id']}", json={"active": False})
        await api.client.put("/admin/integration/ehr/priority-rules", json={"contact_list_ids": ["l-1"]})
        await wait_for(kafka_bootstrap, topics.webhooks_config, lambda r: versions(r, b["id"]) == [1, 2])

    # Restarted on an empty config topic (what the embedded memory broker looks like after a restart).
    prefix = f"t{uuid.uuid4().hex[:10]}."
    names = Topics().with_prefix(prefix)
    await ensure_topics(kafka_bootstrap, names, embedded_broker_client(), partitions=2)
    env = {**service_env, "TOPIC_PREFIX": prefix}
    async with start_harness(make_settings(database_url, env)) as fresh:
        records = await wait_for(
            kafka_bootstrap,
            names.webhooks_config,
            lambda r: (
                versions(r, a["id"]) == [1]
                and versions(r, b["id"]) == [2]
                and any(k == "priority-rules/ehr" for k, _ in r)
            ),
        )
        snapshot_b = WebhookConfigV1.model_validate_json(next(v for k, v in records if k == b["id"] and v))
        assert snapshot_b.active is False and snapshot_b.deactivated_reason

        # a stray webhook on the topic (deleted while the topic was unavailable) gets a tombstone
        producer = AIOKafkaProducer(**producer_options(kafka_bootstrap, embedded_broker_client()))
        await producer.start()
        try:
            stray = snapshot_b.model_copy(update={"id": "wh_stray"})
            await producer.send_and_wait(names.webhooks_config, key=b"wh_stray", value=stray.to_bytes())
        finally:
            await producer.stop()
        resp = await fresh.client.post("/admin/config/resync")
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"webhooks": 2, "priority_rules": 1, "tombstones": 1}
        records = await wait_for(
            kafka_bootstrap, names.webhooks_config, lambda r: versions(r, "wh_stray")[-1:] == [None]
        )
        assert versions(records, a["id"]) == [
            1,
            1,
        ]  # republished at the same version: idempotent for consumers
