"""Job payloads on Kafka (issue 15 item 10): encrypted on every topic that carries them, delivered exactly.

The dispatcher and the worker run in-process on the embedded broker; every record of the deliveries,
retry tier, DLQ and invalid topics is then read raw and searched for a marker put in the event.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiokafka import AIOKafkaConsumer
from dw_helpers import Bus, make_config, make_job, receiver, status, wait_for
from standardwebhooks import Webhook

from contracts.deliveries import payload_context
from contracts.events import InvalidEventV1
from contracts.topics import Topics
from contracts.webhooks import RetryPolicy
from devstack.ports import free_port
from dispatcher.app import create_app as create_dispatcher
from dispatcher.settings import DispatcherSettings
from service_kit.kafka import assign_from_beginning, consumer_options
from service_kit.kafka_security import embedded_broker_client
from webhook_core.payload_crypto import Payloads
from webhook_core.secrets_crypto import SecretBox, generate_signing_secret

pytestmark = pytest.mark.integration

MARKER = "zz-phi-marker-4711"
JUNK = b'{"type":"delivery_job.v1","body":"' + MARKER.encode() + b'"}'
"""Not a job (no ids): the test's own plaintext on the deliveries topic, copied by the worker's invalid record."""
TWO_TRIES = RetryPolicy(max_attempts=2, initial_delay_ms=200, multiplier=1.0, jitter=0.0)


def sequence(*codes: int):  # type: ignore[no-untyped-def]
    calls = 0

    async def handler(request):  # type: ignore[no-untyped-def]
        nonlocal calls
        code = codes[calls] if calls < len(codes) else 200
        calls += 1
        return await status(code)(request)

    return handler


@asynccontextmanager
async def dispatcher(bootstrap: str, prefix: str, secrets_key: str, encrypt: bool) -> AsyncIterator[None]:
    settings = DispatcherSettings(
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        webhook_secrets_key=secrets_key,  # type: ignore[arg-type]
        kafka_payload_encryption=encrypt,
        port=free_port(),
        group_id=f"{prefix}dispatcher",
        ready_timeout_s=30,
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
    )
    app = create_dispatcher(settings)
    await app.start()
    try:
        yield
    finally:
        await app.stop()


async def raw_values(bootstrap: str, topics: list[str]) -> dict[str, list[bytes]]:
    """Every record value now on ``topics``, as the broker holds it."""
    out: dict[str, list[bytes]] = {}
    for topic in topics:
        consumer = AIOKafkaConsumer(
            group_id=None, **consumer_options(bootstrap, embedded_broker_client(), 10)
        )
        await consumer.start()
        try:
            await assign_from_beginning(consumer, topic)
            values: list[bytes] = []
            for _ in range(5):
                batch = await consumer.getmany(timeout_ms=200)
                values.extend(r.value or b"" for records in batch.values() for r in records)
            out[topic] = values
        finally:
            await consumer.stop()
    return out


def fhir_event() -> bytes:
    return json.dumps(
        {"resourceType": "Appointment", "id": "enc1", "status": "booked", "description": MARKER}
    ).encode()


@pytest.mark.parametrize("encrypt", [True, False], ids=["encryption-on", "encryption-off"])
async def test_no_plaintext_on_any_topic_and_exact_signed_delivery(
    encrypt: bool,
    kafka_bootstrap: str,
    topics: Topics,
    topic_prefix: str,
    secrets_key: str,
    bus: Bus,
    box: SecretBox,
    start_worker,  # type: ignore[no-untyped-def]
) -> None:
    secret = generate_signing_secret()
    async with receiver({"/flaky": sequence(500), "/down": status(500)}) as rec:
        flaky = make_config(
            box, rec.url("/flaky"), secrets=[(secret, None)], integration_id="ehr", retry=TWO_TRIES
        )
        down = make_config(box, rec.url("/down"), integration_id="ehr", retry=TWO_TRIES)
        for cfg in (flaky, down):
            await bus.config(cfg)
        await start_worker(kafka_payload_encryption=encrypt)
        async with dispatcher(kafka_bootstrap, topic_prefix, secrets_key, encrypt):
            await bus.producer.send_and_wait(topics.fhir_events, fhir_event(), key=b"k")
            await bus.producer.send_and_wait(topics.fhir_events, b'{"broken": "' + MARKER.encode(), key=b"k")
            # Not a job at all (the worker's invalid record copies it).
            await bus.producer.send_and_wait(topics.deliveries, JUNK, key=b"x")

            def outcomes(webhook_id: str) -> list[str]:
                got = sorted((r for r in bus.results if r.webhook_id == webhook_id), key=lambda r: r.attempt)
                return [r.outcome for r in got]

            await wait_for(lambda: outcomes(flaky.id) == ["retrying", "succeeded"], 45, "flaky delivered")
            await wait_for(
                lambda: outcomes(down.id) == ["retrying", "dead_lettered"], 45, "down dead-lettered"
            )
            await wait_for(lambda: len(bus.dead) == 1, 15, "dead letter")

        watched = [
            topics.deliveries,
            topics.deliveries_priority,
            *topics.retry_topics().values(),
            topics.deliveries_dlq,
            topics.invalid_events,
        ]
        raw = await raw_values(kafka_bootstrap, watched)
        retried = [v for t in topics.retry_topics().values() for v in raw[t]]
        assert len(raw[topics.deliveries]) >= 3 and retried and raw[topics.deliveries_dlq]
        assert len(raw[topics.invalid_events]) == 2  # the dispatcher's and the worker's
        carrying = [v for values in raw.values() for v in values if v != JUNK]
        with_marker = [v for v in carrying if MARKER.encode() in v]
        if encrypt:
            assert with_marker == []
            for value in carrying:
                doc = json.loads(value)
                assert "body" not in doc.get("job", doc) and "value_b64" not in doc
        else:  # the same search finds the plaintext when encryption is off (the test can fail)
            assert len(with_marker) >= 5

        # Delivered byte for byte and signed over those bytes, encrypted or not.
        hits = rec.on("/flaky")
        assert len(hits) == 2 and hits[0].body == hits[1].body
        delivered = Webhook(secret).verify(hits[1].body, hits[1].headers)
        assert delivered["data"]["description"] == MARKER
        result = next(r for r in bus.results if r.webhook_id == flaky.id and r.outcome == "succeeded")
        assert result.payload_encrypted is not None
        assert (
            box.decrypt(result.payload_encrypted, payload_context(result.delivery_id)).encode()
            == hits[1].body
        )
        letter, _ = bus.dead[0]
        assert (letter.job.body is None) == encrypt
        assert Payloads(box).open(letter.job).body_text.encode() == rec.on("/down")[0].body
        invalid = [InvalidEventV1.model_validate_json(v) for v in raw[topics.invalid_events]]
        copies = {Payloads(box).invalid_value(i) for i in invalid}
        assert any(MARKER.encode() in c for c in copies)


async def test_old_plaintext_jobs_deliver_and_unusable_ciphertexts_go_to_invalid(
    kafka_bootstrap: str,
    topics: Topics,
    bus: Bus,
    box: SecretBox,
    start_worker,  # type: ignore[no-untyped-def]
) -> None:
    secret = generate_signing_secret()
    async with receiver() as rec:
        cfg = make_config(box, rec.url("/hook"), secrets=[(secret, None)])
        await bus.config(cfg)
        await start_worker()  # encryption on: plaintext jobs of an older producer are still read
        old = make_job(cfg, 1, body=json.dumps({"email": MARKER}))
        assert b'"body":' in old.to_bytes()
        await bus.job(old)
        sealed = Payloads(box).seal(make_job(cfg, 2, body=json.dumps({"n": 2, "email": MARKER})))
        moved = sealed.model_copy(update={"delivery_id": "dlv_someone_else"})
        token = sealed.body_encrypted or ""
        tampered = sealed.model_copy(
            update={
                "delivery_id": "dlv_tampered",
                "body_encrypted": token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:],
            }
        )
        await bus.job(moved)
        await bus.job(tampered)
        later = Payloads(box).seal(make_job(cfg, 3))
        await bus.job(later)

        await wait_for(lambda: len(rec.on("/hook")) == 2, 30, "old and later jobs delivered")
        bodies = sorted(h.body for h in rec.on("/hook"))
        for hit in rec.on("/hook"):
            Webhook(secret).verify(hit.body, hit.headers)
        assert bodies == sorted([old.body_text.encode(), Payloads(box).open(later).body_text.encode()])

        async def invalid_reasons() -> list[str]:
            raw = await raw_values(kafka_bootstrap, [topics.invalid_events])
            return [InvalidEventV1.model_validate_json(v).reason for v in raw[topics.invalid_events]]

        reasons: list[str] = []
        for _ in range(30):
            reasons = await invalid_reasons()
            if len(reasons) >= 2:
                break
            await asyncio.sleep(0.5)
        assert sorted(reasons) == [
            "delivery_job.v1 unusable: delivery dlv_someone_else: body_encrypted does not decrypt for this "
            "delivery id (wrong WEBHOOK_SECRETS_KEY, tampered, or copied from another job)",
            "delivery_job.v1 unusable: delivery dlv_tampered: body_encrypted does not decrypt for this "
            "delivery id (wrong WEBHOOK_SECRETS_KEY, tampered, or copied from another job)",
        ]
        # Each ended once: no results, no attempt, no loop.
        await asyncio.sleep(1.0)
        assert not bus.for_delivery("dlv_someone_else") and not bus.for_delivery("dlv_tampered")
        assert len(await invalid_reasons()) == 2 and len(rec.on("/hook")) == 2
