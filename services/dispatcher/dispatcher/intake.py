"""The event intake on FastStream: one batch subscriber over both input topics, acknowledged by hand.

FastStream runs the consumer (group membership, fetch loop, one handler call per polled batch); the
dispatcher decides when a batch is done. The subscriber uses ``AckPolicy.MANUAL`` (auto-commit off),
so nothing is committed until the handler calls :meth:`KafkaMessage.ack` after the broker acknowledged
every record produced from the batch; :meth:`KafkaMessage.nack` rewinds each partition of the batch to
its first record so that the batch is fetched again. The handler must not raise: with a manual policy
FastStream would log the error and move on, and the next ack would commit past the batch.

FastStream's own batch parser decodes every header value as UTF-8 (``j.decode()``): a header without a
value (aiokafka hands ``None``) or with binary bytes makes it raise before the handler runs, the batch is
never acknowledged nor rewound, and the next acknowledgement commits past it: silent loss. The intake
therefore installs its own parser and decoder, which hand the raw records through untouched (the
dispatcher reads headers with its bounded, None-safe ``decode_headers``).

The broker is ``consumer_only``: jobs are published with the dispatcher's own producer (exact headers,
no ``content-type`` / ``correlation_id`` added per record, nothing between the job and the send).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage as CurrentMessage
from faststream.kafka.message import KafkaAckableMessage, KafkaMessage
from faststream.kafka.subscriber.usecase import BatchSubscriber

from contracts.topics import Topics
from dispatcher.settings import DispatcherSettings
from service_kit.kafka import consumer_options

BatchHandler = Callable[[KafkaMessage], Awaitable[None]]
BATCH_TIMEOUT_MS = 200
"""How long one poll waits for records (FastStream's batch_timeout_ms)."""


def build_broker(settings: DispatcherSettings) -> KafkaBroker:
    """A consumer-only FastStream broker (no producer of its own; FastStream's access log off)."""
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        consumer_only=True,
        logger=None,
        description="carehooks dispatcher: integration events in, delivery jobs out",
    )


def add_intake(
    broker: KafkaBroker, settings: DispatcherSettings, topics: Topics, handler: BatchHandler
) -> BatchSubscriber:
    """Subscribe ``handler`` to both input topics as one batch subscriber with manual acknowledgement."""
    options: dict[str, Any] = consumer_options(
        settings.kafka_bootstrap_servers, settings.kafka_fetch_max_wait_ms
    )
    options.pop("bootstrap_servers")
    options.pop("enable_auto_commit")  # FastStream sets it from the ack policy (off for MANUAL)
    subscriber = broker.subscriber(
        topics.surveymonkey_events,
        topics.fhir_events,
        batch=True,
        group_id=settings.group_id,
        max_records=settings.max_batch,
        batch_timeout_ms=BATCH_TIMEOUT_MS,
        ack_policy=AckPolicy.MANUAL,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        title="dispatcher-intake",
        description=(
            "SurveyMonkey callbacks and FHIR resources / Bundles; one delivery job per matching webhook. "
            "Offsets are committed per batch after every produced record was acknowledged."
        ),
        **options,
    )

    async def on_batch(message: CurrentMessage) -> None:  # the message from FastStream's context
        await handler(message)

    async def parse_batch(records: tuple[ConsumerRecord, ...]) -> KafkaMessage:
        """The batch as one ackable message; headers are not decoded here (see the module docstring)."""
        first, last = records[0], records[-1]
        return KafkaAckableMessage(
            body=b"",
            headers={},
            batch_headers=[],
            message_id=f"{first.offset}-{last.offset}-{first.timestamp}",
            raw_message=records,
            consumer=subscriber.consumer,
        )

    async def no_body(message: KafkaMessage) -> None:
        """The handler reads the raw records; nothing to decode."""
        return None

    subscriber(on_batch, parser=parse_batch, decoder=no_body)
    if not isinstance(subscriber, BatchSubscriber):  # batch=True; the check narrows FastStream's overloads
        raise TypeError(f"expected a batch subscriber, got {type(subscriber).__name__}")
    return subscriber
