"""A polled batch is freed as soon as it is handled, by reference counting alone, on the real broker.

Until 2026-12-04 the intake's decoder handed FastStream's message over as its own body; FastStream caches
the body on the message, so every batch was a reference cycle that kept its records (bytes included)
alive until the garbage collector ran, and that collection then stalled the dispatcher for 30-58 ms.
Here the collector is off while batches flow: whatever is freed, refcounting freed.
"""

from __future__ import annotations

import gc

import pytest
from dispatcher_helpers import webhook
from dispatcher_kafka import Bus, running, settings_for
from faststream.kafka.message import KafkaAckableMessage

from contracts.topics import Topics

pytestmark = pytest.mark.integration

BATCHES = 5


def _live_messages() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, KafkaAckableMessage))


async def test_handled_batches_leave_no_cycle_behind(
    kafka_bootstrap: str, topics: Topics, topic_prefix: str, secrets_key: str
) -> None:
    async with Bus(kafka_bootstrap, topics) as bus:
        await bus.config(webhook("all", event_types=["*"]))
        async with running(settings_for(kafka_bootstrap, topic_prefix, secrets_key)) as app:
            gc.collect()
            before = _live_messages()
            gc.disable()
            try:
                # One event at a time, each waited for: one polled batch each.
                for i in range(BATCHES):
                    await bus.publish({"resourceType": "Task", "id": f"g{i}"}, partition=0)
                    assert len(await bus.collect(1, topics.deliveries)) == 1
                left = _live_messages() - before
            finally:
                gc.enable()
            assert app.ready
    # At most the batch FastStream is polling for right now; with the cycle, one per batch.
    assert left <= 1, f"{left} handled batch messages still alive after {BATCHES} batches"
