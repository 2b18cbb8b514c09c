"""The event intake on FastStream: one batch subscriber over the input topics, acknowledged by hand.

FastStream runs the consumer (group membership, fetch loop, one handler call per polled batch); the
dispatcher decides when a batch is done. The subscriber uses ``AckPolicy.MANUAL`` (auto-commit off), so
FastStream commits nothing; the dispatcher's :class:`~dispatcher.pipeline.BatchPipeline` commits each
batch's offsets, in poll order, once the broker acknowledged every record produced from it, and rewinds
the unfinished batches when a produce failed. (FastStream's ``ack()`` commits the consumer's position,
which with batches in flight would pass records whose jobs are not acknowledged yet.) The handler must
not raise: with a manual policy FastStream would log the error and move on.

FastStream's own batch parser decodes every header value as UTF-8 (``j.decode()``): a header without a
value (aiokafka hands ``None``) or with binary bytes makes it raise before the handler runs, the batch is
never acknowledged nor rewound, and the next acknowledgement commits past it: silent loss. The intake
therefore installs its own parser and decoder, which hand the raw records through untouched (the
dispatcher reads headers with its bounded, None-safe ``decode_headers``).

The broker runs without FastStream's dependency injection (``apply_types=False``): the handler takes
the polled records as its only argument (the decoder returns ``raw_message``), which spares a
worker-thread hand-off per batch that resolving a context parameter costs. Not the message itself:
FastStream caches the decoded body on the message, so a message that is its own body is a reference
cycle, and every polled batch (its records' bytes included) stayed alive until the garbage collector's
next run, which then took 30-58 ms of CPU at a time in the dispatcher (measured 2026-12-04).

FastStream's batch poll sleeps ``batch_timeout_ms`` after every empty poll before it polls again (ten
idle wake-ups a second at 50 ms, and up to 50 ms more for the first record after a quiet spell). The
intake replaces that poll with a plain long ``getmany`` (:func:`poll_without_idle_sleep`): aiokafka
returns it on the first record, so its timeout only sets the idle wake-up rate.

The broker is ``consumer_only``: jobs are published with the dispatcher's own producer (exact headers,
no ``content-type`` / ``correlation_id`` added per record, nothing between the job and the send).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from itertools import chain
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaAckableMessage, KafkaMessage
from faststream.kafka.subscriber.usecase import BatchSubscriber
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from contracts.topics import Topics
from dispatcher.pipeline import BatchPipeline
from dispatcher.settings import DispatcherSettings
from service_kit.kafka import consumer_options

Batch = tuple[ConsumerRecord, ...]
BatchHandler = Callable[[Batch], Awaitable[None]]
_SUBSCRIBER_OPTIONS = frozenset(
    {
        "auto_offset_reset",
        "consumer_timeout_ms",
        "fetch_max_wait_ms",
        "fetch_min_bytes",
        "max_partition_fetch_bytes",
    }
)
BATCH_TIMEOUT_MS = 50
"""FastStream's ``batch_timeout_ms``: unused by the poll that replaces FastStream's (kept small so that
FastStream's own poll, were it ever back, would cost at most 50 ms per quiet spell)."""
REWIND_PAUSE_S = 0.5
"""Pause after a rewind, so that a broker refusing every produce is not hammered in a tight loop."""
POLL_TIMEOUT_MS = 1000
"""How long one poll waits when nothing arrives: one idle wake-up a second. A record ends the wait at
once (aiokafka's ``getmany`` returns on the first fetched record), so this never delays one."""


def build_broker(settings: DispatcherSettings) -> KafkaBroker:
    """A consumer-only FastStream broker (no producer of its own; its access log at DEBUG).

    The shared Kafka connection settings (TLS, SASL, client id) reach FastStream as its security object.
    """
    options = settings.client_options()
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        consumer_only=True,
        # No dependency injection: resolving even one context parameter (the message) ran a sync call in
        # a worker thread for every batch (fast_depends' run_in_threadpool): 3 % of the dispatcher's CPU
        # in thread hand-offs plus a thread wake-up per batch. The decoder hands the message over instead.
        apply_types=False,
        # FastStream's own errors (fetch failures) go to this logger; its per-batch access lines only at
        # DEBUG. It logs topics and offsets, never payloads.
        logger=logging.getLogger("dispatcher.intake"),
        log_level=logging.DEBUG,
        security=faststream_security(options),
        client_id=options.get("client_id") or "dispatcher",
        description="carehooks dispatcher: integration events in, delivery jobs out",
    )


def faststream_security(options: dict[str, Any]) -> BaseSecurity | None:
    """Our aiokafka security options (``KafkaClientSettings.client_options``) as FastStream's object."""
    protocol = options.get("security_protocol", "PLAINTEXT")
    context = options.get("ssl_context")
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    use_ssl = protocol == "SASL_SSL"
    kinds: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
        "PLAIN": SASLPlaintext,
        "SCRAM-SHA-256": SASLScram256,
        "SCRAM-SHA-512": SASLScram512,
    }
    kind = kinds[options["sasl_mechanism"]]
    return kind(
        options["sasl_plain_username"],
        options["sasl_plain_password"],
        ssl_context=context if use_ssl else None,
        use_ssl=use_ssl,
    )


def add_intake(
    broker: KafkaBroker,
    settings: DispatcherSettings,
    topics: Topics,
    handler: BatchHandler,
    pipeline: BatchPipeline | None = None,
) -> BatchSubscriber:
    """Subscribe ``handler`` to the input topics as one batch subscriber with manual acknowledgement.

    The inputs are the two integration topics and ``webhooks.ops`` (carehooks' own operational events,
    :mod:`dispatcher.operational`).
    """
    options = consumer_options(settings.kafka_bootstrap_servers, settings, settings.kafka_fetch_max_wait_ms)
    # Connection and security options reach the consumer through the broker (build_broker); FastStream
    # sets auto-commit from the ack policy (off for MANUAL).
    options = {k: v for k, v in options.items() if k in _SUBSCRIBER_OPTIONS}
    subscriber = broker.subscriber(
        topics.surveymonkey_events,
        topics.fhir_events,
        topics.ops,
        batch=True,
        group_id=settings.group_id,
        max_records=settings.max_batch,
        batch_timeout_ms=BATCH_TIMEOUT_MS,
        ack_policy=AckPolicy.MANUAL,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        title="dispatcher-intake",
        description=(
            "SurveyMonkey callbacks, FHIR resources / Bundles and carehooks' operational records "
            "(webhooks.ops); one delivery job per matching webhook. "
            "Offsets are committed per batch, in poll order, after every produced record was acknowledged."
        ),
        **options,
    )

    # Typed Any: FastStream derives its AsyncAPI payload schema from this annotation, and the polled
    # records (which as_records below hands over as the "body") have no schema.
    async def on_batch(records: Any) -> None:
        await handler(records)

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

    async def as_records(message: KafkaMessage) -> Batch:
        """The handler reads the raw records (see the module docstring for why not the message)."""
        raw = message.raw_message
        return raw if isinstance(raw, tuple) else (raw,)

    subscriber(on_batch, parser=parse_batch, decoder=as_records)
    if not isinstance(subscriber, BatchSubscriber):  # batch=True; the check narrows FastStream's overloads
        raise TypeError(f"expected a batch subscriber, got {type(subscriber).__name__}")
    poll_without_idle_sleep(subscriber, POLL_TIMEOUT_MS, pipeline)
    return subscriber


def poll_without_idle_sleep(
    subscriber: BatchSubscriber, timeout_ms: int, pipeline: BatchPipeline | None = None
) -> None:
    """Replace the subscriber's poll with one long ``getmany`` that does not sleep after an empty poll.

    FastStream's consume loop takes each batch from ``get_msg`` and skips an empty one; its own
    ``get_msg`` sleeps ``batch_timeout_ms`` after an empty poll. An instance attribute shadows the method
    (FastStream calls ``self.get_msg``); ``tests/dispatcher/test_intake.py`` fails if that stops holding.

    The poll is also where a failed ``pipeline`` is rewound (:mod:`dispatcher.pipeline`): between two
    fetches, so that a batch fetched before the rewind is dropped rather than handled after it.
    """
    max_records = subscriber.max_records

    async def get_msg(consumer: AIOKafkaConsumer) -> tuple[ConsumerRecord[bytes, bytes], ...]:
        if pipeline is not None and pipeline.failed:
            pipeline.rewind(consumer)
            await asyncio.sleep(REWIND_PAUSE_S)
        batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
        records = tuple(chain.from_iterable(batches.values()))
        if pipeline is not None and pipeline.failed:
            pipeline.rewind(consumer, records)
            return ()
        return records

    subscriber.get_msg = get_msg  # type: ignore[method-assign]
