"""The DLQ reader on the real broker: a header without a value (aiokafka hands None) is absent, not a crash."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer
from dlq_factories import letter
from recorded_consumers import cancel_while_starting, record_consumers, stopped

from contracts.base import utcnow
from contracts.topics import Topics
from dlq_replayer.reader import DlqReader
from service_kit.kafka import producer_options
from service_kit.kafka_security import embedded_broker_client

pytestmark = pytest.mark.integration


async def test_null_and_binary_header_values_do_not_break_a_scan(
    kafka_bootstrap: str, topics: Topics
) -> None:
    dead = letter(0, at=utcnow(), webhook="wh-a")
    producer = AIOKafkaProducer(**producer_options(kafka_bootstrap, embedded_broker_client()))
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.deliveries_dlq,
            dead.to_bytes(),
            key=b"wh-a",
            headers=[("empty", None), ("bin", b"\xff\xfe"), ("integration-id", b"int_1")],  # type: ignore[list-item]
        )
    finally:
        await producer.stop()
    result = await DlqReader(
        kafka_bootstrap, embedded_broker_client(), topics.deliveries_dlq, timeout_s=20
    ).scan()
    assert result.invalid == 0 and len(result.entries) == 1
    assert result.entries[0].headers == {"bin": "\ufffd\ufffd", "integration-id": "int_1"}


async def test_an_unreachable_broker_leaves_no_consumer_open(monkeypatch: pytest.MonkeyPatch) -> None:
    from dlq_replayer import topic_reader
    from dlq_replayer.errors import UnavailableError

    made = record_consumers(monkeypatch, topic_reader)
    with pytest.raises(UnavailableError, match=r"cannot reach Kafka at 127\.0\.0\.1:1"):
        async with topic_reader.assigned_consumer("127.0.0.1:1", embedded_broker_client(), "t"):
            pass
    assert len(made) == 1 and stopped(made[0])  # no client left, no "Unclosed" warning


async def test_a_reader_cancelled_while_its_consumer_starts_leaves_none_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dlq_replayer import topic_reader

    made = record_consumers(monkeypatch, topic_reader)

    async def read() -> None:
        async with topic_reader.assigned_consumer("127.0.0.1:1", embedded_broker_client(), "t"):
            pass

    await cancel_while_starting(monkeypatch, read())  # the admin's request abandoned
    assert len(made) == 1 and stopped(made[0])
