"""Composition root: ``create_app(settings)`` wires the config view, patient index, intake and producer.

The intake runs on FastStream (:mod:`dispatcher.intake`): a batch subscriber with manual
acknowledgement. A batch's offsets are committed only after the broker acknowledged every record
produced from it and every earlier batch's (at-least-once; :mod:`dispatcher.pipeline` keeps up to
``DISPATCHER_PIPELINE_DEPTH`` batches in flight), and the FastStream broker is started only once the
config view and the patient index caught up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from dispatcher.handlers import EventProcessor, InputRecord, Outgoing, ProcessingLimits
from dispatcher.intake import add_intake, build_broker
from dispatcher.matching import WebhookIndex
from dispatcher.metrics import DispatcherMetrics
from dispatcher.patient_index import PatientIndex
from dispatcher.pipeline import BatchPipeline
from dispatcher.settings import DispatcherSettings
from service_kit.config_view import ConfigChange, ConfigFollower, WebhookView
from service_kit.fetch_pacing import idle_pacer
from service_kit.kafka import producer_options
from service_kit.ops_http import OpsServer
from service_kit.runtime import current_loop_name
from service_kit.supervisor import LoopSupervisor
from webhook_core.payload_crypto import Payloads
from webhook_core.secrets_crypto import SecretBox

logger = logging.getLogger(__name__)


class _PatientIndexSink:
    """Feeds the patient index from the config follower (read from the start, caught-up signal, follow)."""

    def __init__(self, patients: PatientIndex) -> None:
        self._patients = patients

    def apply(self, key: str, value: bytes | None) -> None:
        self._patients.apply_record(key, value)


class DispatcherApp:
    """One dispatcher instance: start(), stop(), run(); ``ready`` backs /readyz."""

    def __init__(self, settings: DispatcherSettings) -> None:
        self.settings = settings
        self.topics = settings.topics
        self.metrics = DispatcherMetrics()
        self.view = WebhookView()
        self.index = WebhookIndex()
        self.view.subscribe(self._on_config_change)
        self.patients = PatientIndex()
        bootstrap = settings.kafka_bootstrap_servers
        # The short wait, not the background one: a config change must apply before the events that
        # follow it on a broker that holds fetches (tests/dispatcher/test_service.py). One consumer for
        # both compacted topics (webhooks and the patient index): one polling loop, not two.
        self.config = ConfigFollower(
            bootstrap,
            settings,
            self.topics.webhooks_config,
            self.view,
            settings.kafka_fetch_max_wait_ms,
            also={self.topics.patient_index: _PatientIndexSink(self.patients)},
        )
        limits = ProcessingLimits(
            max_input_bytes=settings.max_input_bytes,
            max_job_bytes=settings.max_job_bytes,
            filter_budget_steps=settings.filter_budget_steps,
        )
        self.processor = EventProcessor(
            self.topics,
            self.view,
            self.index,
            self.patients,
            self.metrics,
            settings.phone_region,
            Payloads(SecretBox(settings.secrets_keys), encrypt=settings.kafka_payload_encryption),
            limits=limits,
        )
        self.supervisor = LoopSupervisor()
        self.ops = OpsServer(
            settings.host,
            settings.port,
            lambda: self.ready,
            registry=self.metrics.registry,
            supervisor=self.supervisor,
        )
        self._producer: AIOKafkaProducer | None = None
        self.broker = build_broker(settings)
        self.pipeline = BatchPipeline(
            lambda: self.intake.consumer, settings.pipeline_depth, settings.commit_interval_ms / 1000
        )
        self.intake = add_intake(self.broker, settings, self.topics, self._handle_batch, self.pipeline)
        self._committing: asyncio.Task[None] | None = None
        self._stopping = False
        # Both on the short wait pace together (service_kit.fetch_pacing: a config view left on the
        # idle wait behind a busy intake would apply changes after the events that follow them).
        self.pacer = idle_pacer(lambda: (self.intake.consumer, self.config.consumer), settings)
        if self.pacer is not None:
            self.config.on_records = self.pacer.seen
        self._pacing: asyncio.Task[None] | None = None
        self._consuming = False
        self.metrics.watch_ready(lambda: self.ready)

    @property
    def ready(self) -> bool:
        """Config view and patient index caught up, and the event consumer running."""
        return self._consuming and self.supervisor.healthy and self.config.ready

    @property
    def _consumer(self) -> AIOKafkaConsumer | None:
        return self.intake.consumer

    def assignment(self) -> set[TopicPartition]:
        """Input partitions this instance owns right now (empty before the group assigned any)."""
        consumer = self._consumer
        return set(consumer.assignment()) if consumer is not None else set()

    def _on_config_change(self, change: ConfigChange) -> None:
        self.index.on_change(change)
        self.metrics.webhooks_indexed.set(len(self.index))

    async def start(self) -> None:
        """Serve /healthz, build the views, then start consuming (returns once ready)."""
        settings = self.settings
        await self.ops.start()
        self._producer = AIOKafkaProducer(**producer_options(settings.kafka_bootstrap_servers, settings))
        await self._producer.start()
        await self.config.start()
        self.supervisor.watch(self.config.task, "config-follower")
        # Matching against a half-built view would silently drop deliveries: wait for both views first.
        await self.config.wait_ready(settings.ready_timeout_s)
        self._committing = asyncio.create_task(self.pipeline.run(), name="intake-commits")
        self.supervisor.watch(self._committing, "intake-commits")
        await self.broker.start()
        self._consuming = True
        for n, task in enumerate(self.intake.tasks):
            # Not expected to end (FastStream handles Kafka errors, the batch handler never raises);
            # if one does, /healthz turns 503 and the process exits, so the orchestrator restarts it.
            self.supervisor.watch(task, "intake" if n == 0 else f"intake-{n}")
        if self.pacer is not None:
            self._pacing = asyncio.create_task(self.pacer.run(), name="fetch-pacing")
            self.supervisor.watch(self._pacing, "fetch-pacing")
        logger.info(
            "dispatcher ready",
            extra={
                "webhooks": len(self.index),
                "patient_index": len(self.patients),
                "event_loop": current_loop_name(),
            },
        )

    async def stop(self) -> None:
        """Stop consuming (uncommitted records are re-read by the next owner), then close everything."""
        self.supervisor.stopping()
        self._consuming = False
        self._stopping = True
        if self._pacing is not None:
            self._pacing.cancel()
            await asyncio.gather(self._pacing, return_exceptions=True)
        # Batches already sent are committed if the broker acknowledges them in time; the handler takes no
        # new ones meanwhile (their records stay uncommitted: the next owner reads them).
        await self.pipeline.drain(self.settings.ready_timeout_s / 4)
        if self._committing is not None:
            self._committing.cancel()
            await asyncio.gather(self._committing, return_exceptions=True)
        if self._consumer is not None:
            _leave_group_even_in_generation_zero(self._consumer)
        await self.broker.stop()
        await self.config.stop()
        if self._producer is not None:
            await self._producer.stop()
        await self.ops.stop()

    async def _handle_batch(self, records: tuple[ConsumerRecord, ...]) -> None:
        """One polled batch: process, hand its jobs to the producer, track it in the pipeline (never raises).

        With manual acknowledgement an exception escaping here would only be logged by FastStream, and a
        later batch's commit would pass this one: anything unexpected fails the pipeline instead, and the
        next poll reads the batch again.
        """
        if not records or self._stopping:
            return  # nothing is committed after it: left for the next owner
        try:
            await self._process_batch(records)
        except Exception as exc:  # noqa: BLE001 - the net under the batch, by design
            logger.error("batch handling failed; it will be read again", extra={"error": type(exc).__name__})
            self.pipeline.add(records, _failed(exc))

    async def _process_batch(self, records: tuple[ConsumerRecord, ...]) -> None:
        if self.pacer is not None:
            self.pacer.seen()
        # Jobs leave in slices of processing time: the loop runs nothing else while a batch is
        # processed, so a batch's first job used to wait for its last event (a batch polled after a
        # broker stall took ~10 ms), and the producer to send nothing meanwhile.
        slice_s = self.settings.ship_every_ms / 1000
        acks: list[asyncio.Future[Any]] = []
        outgoing: list[Outgoing] = []
        ship_at = time.monotonic() + slice_s
        for record in records:
            outgoing.extend(self.processor.process_safely(_input(record), self.settings.handler_attempts))
            if slice_s and outgoing and time.monotonic() >= ship_at:
                acks.append(await self._send(outgoing))
                outgoing = []
                await asyncio.sleep(0)  # the producer's sender runs: the slice is on its way
                ship_at = time.monotonic() + slice_s
        acks.append(await self._send(outgoing))
        self.pipeline.add(records, acks[0] if len(acks) == 1 else asyncio.gather(*acks))
        self._record_lag(records)
        # The next batch is fetched while this one's jobs are acknowledged, up to the pipeline's depth.
        await self.pipeline.wait_for_room()

    def _record_lag(self, records: tuple[ConsumerRecord, ...]) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        ends: dict[TopicPartition, int] = {}
        for record in records:
            ends[TopicPartition(record.topic, record.partition)] = record.offset + 1
        for tp, next_offset in ends.items():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                self.metrics.set_lag(self.settings.group_id, tp.topic, tp.partition, highwater - next_offset)

    async def _send(self, outgoing: Sequence[Outgoing]) -> asyncio.Future[Any]:
        """Hand every record to the producer; the future completes once the broker acknowledged them all
        (or with the first error)."""
        if not outgoing:
            done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        assert self._producer is not None
        try:
            futures = [
                await self._producer.send(o.topic, o.value, key=o.key, headers=o.headers) for o in outgoing
            ]
        except KafkaError as exc:
            return _failed(exc)
        acks = asyncio.gather(*futures)
        acks.add_done_callback(lambda f: self._count_jobs(f, outgoing))
        return acks

    def _count_jobs(self, acks: asyncio.Future[Any], outgoing: Sequence[Outgoing]) -> None:
        if acks.cancelled() or acks.exception() is not None:
            return
        for o in outgoing:
            if o.job_labels is not None:
                self.metrics.jobs_emitted.labels(*o.job_labels).inc()


def _failed(exc: BaseException) -> asyncio.Future[Any]:
    failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    failed.set_exception(exc)
    return failed


def _input(record: ConsumerRecord) -> InputRecord:
    return InputRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=list(record.headers or ()),
        timestamp_ms=record.timestamp,
    )


def _leave_group_even_in_generation_zero(consumer: AIOKafkaConsumer) -> None:
    """Make aiokafka send LeaveGroup on stop although the group is in generation 0.

    The embedded Tansu broker numbers the first generation 0 and aiokafka only leaves a group when
    generation > 0, so a stopped first member stayed in the group until its session expired and a
    restarted dispatcher waited that long to get its partitions. The LeaveGroup request does not carry
    the generation, so raising the local number only changes whether aiokafka sends it.
    """
    coordinator = getattr(consumer, "_coordinator", None)
    if (
        coordinator is not None
        and getattr(coordinator, "generation", None) == 0
        and getattr(coordinator, "member_id", "")
    ):
        coordinator.generation = 1


def create_app(settings: DispatcherSettings) -> DispatcherApp:
    """The one composition root of the dispatcher."""
    return DispatcherApp(settings)
