"""Hostile producers against the running dispatcher on the real embedded broker (issue 15.3, 15.11).

Whatever a record carries (null / empty / binary / huge headers, any key, any body), and whatever goes
wrong while handling it, the dispatcher produces jobs or an invalid event for it, commits it and stays
ready; it never stops on a record.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from dispatcher_helpers import sample, sm_body, webhook
from dispatcher_kafka import Bus, invalid_copy, running, settings_for

from contracts.deliveries import DeliveryJobV1
from contracts.events import InvalidEventV1
from contracts.topics import Topics
from dispatcher.app import DispatcherApp
from dispatcher.handlers import InputRecord, Outgoing
from dispatcher.settings import DispatcherSettings

pytestmark = pytest.mark.integration


@asynccontextmanager
async def catch_all(
    bootstrap: str, topics: Topics, settings: DispatcherSettings
) -> AsyncIterator[tuple[Bus, DispatcherApp]]:
    """A running dispatcher with one webhook for every ehr event, and the bus to talk to it."""
    async with Bus(bootstrap, topics) as bus:
        await bus.config(webhook("all", event_types=["*"]))
        async with running(settings) as app:
            yield bus, app


def _invalid(records: list[Any]) -> list[InvalidEventV1]:
    return [InvalidEventV1.model_validate_json(r.value) for r in records]


async def test_a_record_whose_handling_keeps_raising_goes_to_the_invalid_topic(
    kafka_bootstrap: str, topics: Topics, topic_prefix: str, secrets_key: str
) -> None:
    settings = settings_for(kafka_bootstrap, topic_prefix, secrets_key)
    async with catch_all(kafka_bootstrap, topics, settings) as (bus, app):
        real = app.processor.process
        calls: dict[str, int] = {}

        def faulty(record: InputRecord) -> list[Outgoing]:
            value = record.value or b""
            marker = "boom" if b"boom" in value else "flaky" if b"flaky" in value else ""
            calls[marker] = calls.get(marker, 0) + 1
            if marker == "boom" or (marker == "flaky" and calls[marker] == 1):
                raise RuntimeError("a bug, not bad input")
            return real(record)

        app.processor.process = faulty  # type: ignore[method-assign]
        await bus.publish({"resourceType": "Task", "id": "boom"}, partition=0)
        await bus.publish({"resourceType": "Task", "id": "flaky"}, partition=0)
        await bus.publish({"resourceType": "Task", "id": "fine"}, partition=0)
        (bad,) = _invalid(await bus.collect(1, topics.invalid_events))
        jobs = await bus.collect(2, topics.deliveries)
        assert bad.reason == "handler_error: handling raised RuntimeError 3 times"
        assert json.loads(invalid_copy(bad, secrets_key))["id"] == "boom"
        assert calls["boom"] == settings.handler_attempts == 3
        assert sorted(DeliveryJobV1.model_validate_json(j.value).object_id or "" for j in jobs) == [
            "fine",
            "flaky",
        ]
        assert app.ready


async def test_oversized_input_is_refused_with_too_large_and_the_partition_moves_on(
    kafka_bootstrap: str, topics: Topics, topic_prefix: str, secrets_key: str
) -> None:
    settings = settings_for(kafka_bootstrap, topic_prefix, secrets_key).model_copy(
        update={"max_input_bytes": 20_000}
    )
    async with catch_all(kafka_bootstrap, topics, settings) as (bus, app):
        big = {"resourceType": "Task", "id": "big", "note": [{"text": "x" * 30_000}]}
        await bus.publish(big, partition=0)
        await bus.publish({"resourceType": "Task", "id": "after"}, partition=0)
        (invalid,) = _invalid(await bus.collect(1, topics.invalid_events))
        (job,) = await bus.collect(1, topics.deliveries)
        assert invalid.reason.startswith("too_large: record of ")
        assert "20000-byte input limit" in invalid.reason
        assert DeliveryJobV1.model_validate_json(job.value).object_id == "after"
        assert app.ready


@pytest.mark.parametrize("how", ["broker refused", "unexpected exception"])
async def test_a_failed_publish_is_not_committed_and_the_batch_is_read_again(
    kafka_bootstrap: str, topics: Topics, topic_prefix: str, secrets_key: str, how: str
) -> None:
    settings = settings_for(kafka_bootstrap, topic_prefix, secrets_key)
    async with catch_all(kafka_bootstrap, topics, settings) as (bus, app):
        real = app._send
        failures = 0

        async def failing_once(outgoing: Sequence[Outgoing]) -> asyncio.Future[Any]:
            nonlocal failures
            if failures == 0 and outgoing:
                failures += 1
                assert app._consumer is not None
                committed = await app._consumer.committed(_partition(topics, 0))
                assert committed in (None, 0)  # nothing of this batch committed yet
                if how == "unexpected exception":
                    raise RuntimeError("a bug in publishing")
                refused: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                refused.set_exception(KafkaTimeoutError())
                return refused
            return await real(outgoing)

        app._send = failing_once  # type: ignore[method-assign]
        await bus.publish({"resourceType": "Task", "id": "retried"}, partition=0)
        (job,) = await bus.collect(1, topics.deliveries)
        assert DeliveryJobV1.model_validate_json(job.value).object_id == "retried"
        assert failures == 1
        assert app._consumer is not None
        for _ in range(50):
            if await app._consumer.committed(_partition(topics, 0)) == 1:
                break
            await asyncio.sleep(0.1)
        assert await app._consumer.committed(_partition(topics, 0)) == 1
        assert app.ready


def _partition(topics: Topics, partition: int) -> Any:
    from aiokafka import TopicPartition

    return TopicPartition(topics.fhir_events, partition)


def test_sm_body_helper_is_a_valid_event() -> None:
    # guards the property test's seed documents against drift in the helpers
    assert sm_body("response_completed")["event_type"] == "response_completed"
    assert sample("fhir/appointment.json")["resourceType"] == "Appointment"


async def test_null_empty_binary_and_huge_headers(
    kafka_bootstrap: str, topics: Topics, topic_prefix: str, secrets_key: str
) -> None:
    settings = settings_for(kafka_bootstrap, topic_prefix, secrets_key)
    async with catch_all(kafka_bootstrap, topics, settings) as (bus, app):
        cases: list[list[tuple[str, bytes | None]]] = [
            [("integration-id", None), ("fhir-interaction", None)],
            [("integration-id", b""), ("", b"\xff\xfe")],
            [("integration-id", b"\xff" * 70_000)],
            [("x" * 300, b"y" * 70_000), ("traceparent", b"\x00")],
        ]
        for headers in cases:
            await bus.producer.send_and_wait(
                topics.fhir_events,
                b'{"resourceType": "Task", "id": "h"}',
                key=None,
                headers=headers,
                partition=0,
            )
        jobs = await bus.collect(3, topics.deliveries)
        (invalid,) = _invalid(await bus.collect(1, topics.invalid_events))
        assert len(jobs) == 3
        assert invalid.reason == "integration-id header: longer than 128 characters"
        assert app.ready
