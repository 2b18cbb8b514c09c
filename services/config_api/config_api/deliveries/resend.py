"""Sending a logged delivery again: the job built from its stored payload, and its publication.

One builder for both re-send paths of the config API, the manual retry of one delivery and the
bulk recovery, so a re-sent job is the same whichever started it: a ``delivery_job.v1`` on
``webhooks.deliveries`` written with ``contracts.records.delivery_job_record`` (key = webhook id), ``attempt=1`` (a fresh attempt budget), no attempt
history, the webhook's current priority, and ``replay`` naming who asked and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.base import utcnow
from contracts.deliveries import DeliveryJobV1, ReplayInfo
from contracts.records import PayloadSealer, delivery_job_record
from contracts.webhooks import WebhookConfigV1


def resend_job(
    stored: Mapping[str, Any],
    config: WebhookConfigV1,
    body: str,
    replay: ReplayInfo,
    *,
    delivery_id: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
) -> DeliveryJobV1:
    """The job re-sending a ``delivery_payloads`` row (``delivery_id``: a new id, else the original)."""
    return DeliveryJobV1(
        delivery_id=delivery_id or stored["delivery_id"],
        webhook_id=stored["webhook_id"],
        integration_id=stored["integration_id"],
        event_id=stored["event_id"],
        event_type=stored["event_type"],
        object_type=object_type,
        object_id=object_id,
        # the job's own event time is not in the results; the first attempt is the closest known
        event_time=stored["first_attempt_at"],
        dispatched_at=utcnow(),
        priority=config.priority,
        body=body,
        attempt=1,
        replay=replay,
    )


async def publish_job(
    producer: AIOKafkaProducer, topic: str, job: DeliveryJobV1, sealer: PayloadSealer
) -> None:
    """Publish (the one delivery-job record of ``contracts.records``, the body encrypted as
    KAFKA_PAYLOAD_ENCRYPTION says) and wait for Kafka's acknowledgement (raises KafkaError)."""
    record = delivery_job_record(job, sealer=sealer)
    await producer.send_and_wait(topic, record.value, key=record.key, headers=record.headers)
