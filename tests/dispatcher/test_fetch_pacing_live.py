"""The dispatcher's consumers on the idle fetch wait after a quiet spell, back on the short one with the
first record, both together (intake, and the one follower of the config view and the patient index), on
the real embedded broker."""

from __future__ import annotations

import asyncio

import pytest
from dispatcher_helpers import sample, webhook
from dispatcher_kafka import Bus, running, settings_for

from contracts.topics import Topics

pytestmark = pytest.mark.integration


def waits(app: object) -> set[int]:
    consumers = (app.intake.consumer, app.config.consumer)  # type: ignore[attr-defined]
    return {c._fetcher._fetch_max_wait_ms for c in consumers}


async def test_the_consumers_pace_together(
    kafka_bootstrap: str, topics: Topics, topic_prefix: str, secrets_key: str
) -> None:
    settings = settings_for(kafka_bootstrap, topic_prefix, secrets_key).model_copy(
        update={"kafka_fetch_max_wait_ms": 10, "kafka_idle_fetch_max_wait_ms": 150, "kafka_idle_after_s": 0.4}
    )
    async with Bus(kafka_bootstrap, topics) as bus:
        await bus.config(webhook("appt", event_types=["Appointment.*"]))
        async with running(settings) as app:
            assert app.pacer is not None
            for _ in range(50):
                if waits(app) == {150}:
                    break
                await asyncio.sleep(0.1)
            assert waits(app) == {150}  # quiet: every consumer on the idle wait

            woken: list[str] = []
            real_seen = app.pacer.seen

            def seen(by: str) -> None:
                woken.append(by)
                real_seen()

            app.pacer.seen = lambda: seen("intake")  # type: ignore[method-assign]  # looked up per batch
            app.config.on_records = lambda: seen("config")

            await bus.publish(sample("fhir/appointment.json"))
            jobs = await bus.collect(1, topics.deliveries)
            assert len(jobs) == 1 and "intake" in woken  # the batch snapped them back

            # A config change alone (no event) also wakes them: the events after it find a fast intake.
            for _ in range(50):
                if waits(app) == {150}:
                    break
                await asyncio.sleep(0.1)
            await bus.config(webhook("late", event_types=["Patient.*"]))
            for _ in range(100):
                if "config" in woken:
                    break
                await asyncio.sleep(0.05)
            assert "config" in woken
            assert sorted(app.view.webhooks) == ["appt", "late"]
