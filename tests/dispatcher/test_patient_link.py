"""Patient linking across two dispatcher instances sharing the work through one consumer group."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka import TopicPartition
from dispatcher_helpers import sample, webhook
from dispatcher_kafka import Bus, read_job, running, settings_for

from contracts.topics import Topics

pytestmark = pytest.mark.integration


async def _wait(condition: object, timeout_s: float = 15.0) -> None:
    assert callable(condition)
    for _ in range(int(timeout_s / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_patient_from_one_instance_links_contact_on_the_other(
    kafka_bootstrap: str, topics: Topics, topic_prefix: str, secrets_key: str
) -> None:
    async with Bus(kafka_bootstrap, topics) as bus:
        await bus.config(webhook("sm", "surveymonkey"))
        settings_a = settings_for(kafka_bootstrap, topic_prefix, secrets_key)
        settings_b = settings_for(kafka_bootstrap, topic_prefix, secrets_key)
        async with running(settings_a) as a, running(settings_b) as b:
            # One partition of each input topic (both integration topics and webhooks.ops) each.
            await _wait(lambda: len(a.assignment()) == 3 and len(b.assignment()) == 3)
            assert not a.assignment() & b.assignment()
            fhir_owner, other = (a, b) if TopicPartition(topics.fhir_events, 0) in a.assignment() else (b, a)
            sm_partition = next(
                tp.partition for tp in other.assignment() if tp.topic == topics.surveymonkey_events
            )

            await bus.publish(sample("fhir/patient.json"), partition=0)
            entries = await bus.collect(2, topics.patient_index)
            assert sorted(r.key for r in entries) == [b"email:jane.doe@example.org", b"phone:+14155550132"]
            await _wait(lambda: len(other.patients) == 2)  # learned from the topic, not from the event

            contact = sample("surveymonkey/contact_created.json")
            contact["resources"]["contact"]["email"] = "someone.else@example.org"  # link through the phone
            await bus.publish(contact, fhir=False, partition=sm_partition)
            response = sample("surveymonkey/response_completed.json")
            await bus.publish(response, fhir=False, partition=sm_partition)
            jobs = [read_job(r.value, secrets_key) for r in await bus.collect(2, topics.deliveries)]
            bodies = {j.event_type: json.loads(j.body) for j in jobs}
            assert bodies["contact_created"]["patient_reference"] == "Patient/example"
            assert bodies["response_completed"]["patient_reference"] == "Patient/example"
            consumed = other.metrics.registry.get_sample_value(
                "carehooks_events_consumed_total", {"integration": "surveymonkey", "outcome": "matched"}
            )
            assert consumed == 2  # the instance that never saw the Patient event did the linking
            assert fhir_owner.metrics.registry.get_sample_value(
                "carehooks_events_consumed_total", {"integration": "surveymonkey", "outcome": "matched"}
            ) in (None, 0.0)

        # A new instance rebuilds the index from the compacted topic before it is ready.
        async with running(settings_for(kafka_bootstrap, topic_prefix, secrets_key, group="fresh")) as fresh:
            assert fresh.patients.entries == {
                "email:jane.doe@example.org": "Patient/example",
                "phone:+14155550132": "Patient/example",
            }
