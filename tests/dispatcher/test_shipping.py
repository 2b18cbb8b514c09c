"""Jobs leave a polled batch in slices of processing time (``DISPATCHER_SHIP_EVERY_MS``), on the real
embedded broker: the producer gets the first events' jobs while the rest of the batch is processed, the
batch is committed only once every slice was acknowledged, and a slice the broker refuses makes the
whole batch be read again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaTimeoutError
from dispatcher_helpers import webhook
from dispatcher_kafka import Bus, read_job, settings_for

from contracts.topics import Topics
from dispatcher.app import DispatcherApp, create_app
from dispatcher.handlers import InputRecord, Outgoing

pytestmark = pytest.mark.integration

EVENTS = 6


class Recorder:
    """Counts the batches the dispatcher polled and the non-empty hand-overs to its producer."""

    def __init__(
        self, app: DispatcherApp, monkeypatch: pytest.MonkeyPatch, slow_s: float, fail_send: int | None = None
    ) -> None:
        self.batches: list[int] = []
        self.sends: list[int] = []
        self.failed = False
        add, send, process = app.pipeline.add, app._send, app.processor.process

        def counting_add(records: Any, acks: asyncio.Future[Any]) -> None:
            self.batches.append(len(records))
            add(records, acks)

        async def counting_send(outgoing: Sequence[Outgoing]) -> asyncio.Future[Any]:
            if outgoing:
                self.sends.append(len(outgoing))
                if fail_send is not None and len(self.sends) == fail_send and not self.failed:
                    self.failed = True
                    refused: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                    refused.set_exception(KafkaTimeoutError())
                    return refused
            return await send(outgoing)

        def slow_process(record: InputRecord) -> list[Outgoing]:
            time.sleep(slow_s)  # an event that costs processing time, as a big batch's do
            return process(record)

        monkeypatch.setattr(app.pipeline, "add", counting_add)
        monkeypatch.setattr(app, "_send", counting_send)
        monkeypatch.setattr(app.processor, "process", slow_process)


async def _committed(app: DispatcherApp, tp: TopicPartition, wanted: int) -> int | None:
    assert app._consumer is not None
    for _ in range(100):
        committed = await app._consumer.committed(tp)
        if committed == wanted:
            return committed
        await asyncio.sleep(0.1)
    return await app._consumer.committed(tp)


async def _run(
    monkeypatch: pytest.MonkeyPatch,
    bootstrap: str,
    topics: Topics,
    prefix: str,
    key: str,
    ship_every_ms: float,
    fail_send: int | None = None,
) -> tuple[Recorder, list[str]]:
    settings = settings_for(bootstrap, prefix, key).model_copy(update={"ship_every_ms": ship_every_ms})
    async with Bus(bootstrap, topics) as bus:
        await bus.config(webhook("all", event_types=["*"]))
        # Published before the dispatcher starts, so that its first poll takes them as one batch.
        for i in range(EVENTS):
            await bus.publish({"resourceType": "Task", "id": f"t{i}"}, partition=0)
        app = create_app(settings)
        recorder = Recorder(app, monkeypatch, slow_s=0.003, fail_send=fail_send)  # before the first poll
        await app.start()
        try:
            jobs = await bus.collect(EVENTS, topics.deliveries, settle_s=0.5)
            committed = await _committed(app, TopicPartition(topics.fhir_events, 0), EVENTS)
            assert committed == EVENTS
            assert app.ready
        finally:
            await app.stop()
    return recorder, sorted({read_job(j.value, key).object_id or "" for j in jobs})


async def test_a_batch_ships_its_jobs_in_slices_and_is_committed_once_all_are_acknowledged(
    kafka_bootstrap: str,
    topics: Topics,
    topic_prefix: str,
    secrets_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A slice shorter than one event's processing: every event's job is handed over on its own.
    recorder, ids = await _run(
        monkeypatch, kafka_bootstrap, topics, topic_prefix, secrets_key, ship_every_ms=0.001
    )
    assert ids == [f"t{i}" for i in range(EVENTS)]
    assert max(recorder.batches) >= 2, recorder.batches  # else the test shows nothing
    assert len(recorder.sends) == sum(recorder.batches) == EVENTS


async def test_with_slicing_off_a_batch_ships_once(
    kafka_bootstrap: str,
    topics: Topics,
    topic_prefix: str,
    secrets_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder, ids = await _run(
        monkeypatch, kafka_bootstrap, topics, topic_prefix, secrets_key, ship_every_ms=0
    )
    assert ids == [f"t{i}" for i in range(EVENTS)]
    assert max(recorder.batches) >= 2, recorder.batches
    assert len(recorder.sends) == len(recorder.batches)


async def test_a_refused_slice_makes_the_whole_batch_be_read_again(
    kafka_bootstrap: str,
    topics: Topics,
    topic_prefix: str,
    secrets_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The second slice is refused: the first one's job was acknowledged, but the batch must not be
    # committed past the refused one; it is processed again and every job is produced.
    recorder, ids = await _run(
        monkeypatch, kafka_bootstrap, topics, topic_prefix, secrets_key, ship_every_ms=0.001, fail_send=2
    )
    assert recorder.failed
    assert ids == [f"t{i}" for i in range(EVENTS)]
    assert sum(recorder.batches) > EVENTS  # the refused batch was processed a second time
