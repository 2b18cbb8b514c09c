"""The dispatcher over the real embedded broker: inputs in, jobs / invalid events / index entries out."""

from __future__ import annotations

import asyncio
import json

import pytest
from dispatcher_helpers import sample, sm_body, webhook
from dispatcher_kafka import Bus, http_get, read_job, running, settings_for

from contracts.base import utcnow
from contracts.catalogs import SURVEYMONKEY_EVENT_TYPES
from contracts.deliveries import DeliveryJobV1
from contracts.events import InvalidEventV1
from contracts.topics import Topics
from contracts.webhooks import ContactRule, PriorityRulesV1
from dispatcher.jobs import delivery_id

pytestmark = pytest.mark.integration


def _jobs(records: list) -> dict[tuple[str, str], DeliveryJobV1]:  # type: ignore[type-arg]
    jobs = [DeliveryJobV1.model_validate_json(r.value) for r in records]
    return {(j.webhook_id, j.event_type): j for j in jobs}


async def test_inputs_matching_config_changes_poison_and_restart(
    kafka_bootstrap: str, topics: Topics, topic_prefix: str, secrets_key: str
) -> None:
    settings = settings_for(kafka_bootstrap, topic_prefix, secrets_key)
    async with Bus(kafka_bootstrap, topics) as bus:
        await bus.config(
            webhook(
                "appt", event_types=["Appointment.*"], filter={"data.status": {"$in": ["booked", "arrived"]}}
            )
        )
        await bus.config(webhook("tasks", criteria="Task?owner=Practitioner/123&status=requested"))
        await bus.config(webhook("slots", event_types=["Slot.delete"]))
        await bus.config(webhook("gone", event_types=["*"]))
        await bus.delete_webhook("gone")
        await bus.config(webhook("off", event_types=["*"], active=False))
        await bus.config(webhook("survey", "surveymonkey", object_types=["survey"], object_ids=["123456789"]))
        async with running(settings) as app:
            assert app.ready
            assert (await http_get(f"http://127.0.0.1:{settings.port}/readyz"))[0] == 200
            assert sorted(app.view.webhooks) == ["appt", "off", "slots", "survey", "tasks"]

            await bus.publish(sample("fhir/appointment.json"))  # single resource, no header
            await bus.publish(sample("fhir/appointment.json"), fhir_interaction="create")
            await bus.publish(sample("fhir/history_bundle.json"))
            await bus.publish(sample("fhir/notification_bundle_r5.json"))
            await bus.publish(b"{this is not json")  # poison
            broken = sample("fhir/transaction_bundle.json")
            broken["entry"].insert(
                0, {"resource": {"resourceType": "Nope", "id": "1"}, "request": {"method": "PUT"}}
            )
            await bus.publish(broken)
            await bus.publish(sample("surveymonkey/response_completed.json"), fhir=False)
            no_type = sm_body("response_completed")
            del no_type["event_type"]
            await bus.publish(no_type, fhir=False)

            jobs = _jobs(await bus.collect(8, topics.deliveries))
            assert sorted(jobs) == [
                ("appt", "Appointment.create"),
                ("appt", "Appointment.update"),
                ("slots", "Slot.delete"),
                ("survey", "response_completed"),
                ("tasks", "Task.create"),
            ]
            invalid = [
                InvalidEventV1.model_validate_json(r.value)
                for r in await bus.collect(3, topics.invalid_events)
            ]
            reasons = sorted(i.reason.split(":")[0] for i in invalid)
            assert reasons == ["Bundle.entry[0]", "event_type", "not JSON"]
            poison = next(i for i in invalid if i.reason.startswith("not JSON"))
            assert poison.source_topic == topics.fhir_events and poison.offset >= 0

            # Good messages keep flowing after the poison, and config changes apply without a restart.
            await bus.config(webhook("late", event_types=["Patient.*"]))
            await bus.config(webhook("appt", event_types=["Appointment.*"], active=False, version=2))
            await bus.publish(sample("fhir/patient.json"))
            await bus.publish(sample("fhir/appointment.json"))
            records = await bus.collect(1, topics.deliveries, settle_s=0.5)
            assert [(j.webhook_id, j.event_type) for j in _jobs(records).values()] == [
                ("late", "Patient.update")
            ]
            job = next(iter(_jobs(records).values()))
            assert job.delivery_id == delivery_id("Patient/example/_history/3:update", "late")
            assert job.published_at is not None

            metrics = (await http_get(f"http://127.0.0.1:{settings.port}/metrics"))[1]
            assert 'carehooks_events_consumed_total{integration="ehr",outcome="invalid"} 2.0' in metrics
            assert 'carehooks_delivery_jobs_emitted_total{integration="ehr",priority="normal"} 8.0' in metrics
            assert "carehooks_webhooks_indexed 4.0" in metrics
            assert "carehooks_dispatch_duration_seconds_count" in metrics
            assert "carehooks_kafka_consumer_lag{" in metrics
            view_before = dict(app.view.webhooks)

        # A restarted dispatcher rebuilds the same view and resumes after the committed offsets.
        async with running(settings) as again:
            assert again.view.webhooks == view_before
            assert len(again.index) == len(view_before) - 2  # "off" and "appt" are inactive
            await bus.publish(sample("fhir/notification_bundle_r5.json"))
            records = await bus.collect(1, topics.deliveries, settle_s=0.5)
            assert [(j.webhook_id, j.event_type) for j in _jobs(records).values()] == [
                ("tasks", "Task.create")
            ]


async def test_priority_routing_and_contact_normalisation(
    kafka_bootstrap: str, topics: Topics, topic_prefix: str, secrets_key: str
) -> None:
    sm = "surveymonkey"
    async with Bus(kafka_bootstrap, topics) as bus:
        await bus.config(webhook("normal", sm))
        await bus.config(webhook("vip", sm, priority="high", event_types=["contact_created"]))
        async with running(settings_for(kafka_bootstrap, topic_prefix, secrets_key)) as app:
            contact = sample("surveymonkey/contact_created.json")
            await bus.publish(contact, fhir=False)
            priority = await bus.collect(1, topics.deliveries_priority)
            normal = await bus.collect(1, topics.deliveries)
            assert [r.key for r in priority] == [b"vip"]
            assert [r.key for r in normal] == [b"normal"]
            job = read_job(normal[0].value, secrets_key)
            person = json.loads(job.body)["data"]["resources"]["contact"]
            assert (person["email"], person["phone_number"]) == ("jane.doe@example.org", "+14155550132")

            rules = PriorityRulesV1(
                integration_id=sm,
                custom_field_rules=[ContactRule(field="3", equals="High")],
                updated_at=utcnow(),
            )
            await bus.config(rules)
            for _ in range(100):  # the rules travel through the config topic
                if sm in app.view.priority_rules:
                    break
                await asyncio.sleep(0.05)
            bad = sample("surveymonkey/contact_created.json")
            bad["event_id"] = "second"
            bad["resources"]["contact"]["email"] = "not-an-email"
            await bus.publish(bad, fhir=False)
            records = await bus.collect(2, topics.deliveries_priority)
            jobs = sorted(
                (DeliveryJobV1.model_validate_json(r.value) for r in records), key=lambda j: j.webhook_id
            )
            assert [(j.webhook_id, j.priority, j.quality_flags) for j in jobs] == [
                ("normal", "high", ["invalid_email"]),
                ("vip", "high", ["invalid_email"]),
            ]
            assert await bus.collect(1, topics.deliveries, timeout_s=0.3) == []

            # Every SurveyMonkey event type goes through (contact ones are priority under the rules).
            for event_type in SURVEYMONKEY_EVENT_TYPES:
                await bus.publish(
                    sm_body(
                        event_type, resources={"survey_id": "s1", "contact": {"custom_fields": {"3": "high"}}}
                    ),
                    fhir=False,
                )
            records = await bus.collect(21, settle_s=0.3)
            normal = {
                DeliveryJobV1.model_validate_json(r.value).event_type for r in records if r.key == b"normal"
            }
            assert normal == set(SURVEYMONKEY_EVENT_TYPES)
