"""Composition root: ``create_app(settings)`` wires the config view, patient index, consumer and producer.

Raw aiokafka rather than FastStream: offsets are committed per polled batch, only after every job of
the batch was acknowledged by the broker (at-least-once), and consumption must not begin before the
config view caught up; both need the control FastStream's per-message subscribers hide.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from dispatcher.handlers import EventProcessor, InputRecord, Outgoing
from dispatcher.matching import WebhookIndex
from dispatcher.metrics import DispatcherMetrics
from dispatcher.patient_index import PatientIndex
from dispatcher.settings import DispatcherSettings
from service_kit.config_view import ConfigChange, ConfigFollower, WebhookView
from service_kit.kafka import consumer_options, producer_options
from service_kit.ops_http import OpsServer
from service_kit.runtime import current_loop_name
from webhook_core.payload_crypto import Payloads
from webhook_core.secrets_crypto import SecretBox

logger = logging.getLogger(__name__)


class _PatientIndexSink(WebhookView):
    """Lets the proven ConfigFollower (read from the start, caught-up signal, follow) feed the patient index."""

    def __init__(self, patients: PatientIndex) -> None:
        super().__init__()
        self._patients = patients

    def apply(self, key: str, value: bytes | None) -> ConfigChange | None:
        self._patients.apply_record(key, value)
        return None


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
        wait_ms = settings.kafka_fetch_max_wait_ms
        self.config = ConfigFollower(bootstrap, settings, self.topics.webhooks_config, self.view, wait_ms)
        self.patient_follower = ConfigFollower(
            bootstrap, settings, self.topics.patient_index, _PatientIndexSink(self.patients), wait_ms
        )
        self.processor = EventProcessor(
            self.topics, self.view, self.index, self.patients, self.metrics, settings.phone_region,
            Payloads(SecretBox(settings.secrets_key), encrypt=settings.kafka_payload_encryption),
        )  # fmt: skip
        self.ops = OpsServer(settings.host, settings.port, lambda: self.ready, registry=self.metrics.registry)
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._consuming = False
        self.metrics.watch_ready(lambda: self.ready)

    @property
    def ready(self) -> bool:
        """Config view and patient index caught up, and the event consumer running."""
        return self._consuming and self.config.ready and self.patient_follower.ready

    def assignment(self) -> set[TopicPartition]:
        """Input partitions this instance owns right now (empty before the group assigned any)."""
        return set(self._consumer.assignment()) if self._consumer is not None else set()

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
        await self.patient_follower.start()
        # Matching against a half-built view would silently drop deliveries: wait for both views first.
        await self.config.wait_ready(settings.ready_timeout_s)
        await self.patient_follower.wait_ready(settings.ready_timeout_s)
        consumer = AIOKafkaConsumer(
            self.topics.surveymonkey_events,
            self.topics.fhir_events,
            group_id=settings.group_id,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            **consumer_options(settings.kafka_bootstrap_servers, settings, settings.kafka_fetch_max_wait_ms),
        )
        await consumer.start()
        self._consumer = consumer
        self._consuming = True
        self._task = asyncio.create_task(self._consume(), name="dispatcher-consume")
        self._task.add_done_callback(self._consume_ended)
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
        self._consuming = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            _leave_group_even_in_generation_zero(self._consumer)
            await self._consumer.stop()
        await self.patient_follower.stop()
        await self.config.stop()
        if self._producer is not None:
            await self._producer.stop()
        await self.ops.stop()

    async def run(self) -> None:
        """Start, run until SIGINT/SIGTERM, stop."""
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        try:
            await self.start()
            await stopping.wait()
        finally:
            await self.stop()

    def _consume_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        # Not expected (the loop handles Kafka errors and bad records); /readyz turns 503 so that the
        # orchestrator restarts the instance instead of leaving its partitions stalled.
        self._consuming = False
        logger.error("event consumer stopped", exc_info=task.exception())

    async def _consume(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=200, max_records=self.settings.max_batch)
            except KafkaError as exc:
                logger.warning("event fetch failed, retrying", extra={"error": type(exc).__name__})
                await asyncio.sleep(0.5)
                continue
            if batches:
                await self._handle_batch(consumer, batches)

    async def _handle_batch(
        self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[ConsumerRecord]]
    ) -> None:
        outgoing: list[Outgoing] = []
        firsts: dict[TopicPartition, int] = {}
        commits: dict[TopicPartition, int] = {}
        for tp, records in batches.items():
            for record in records:
                outgoing.extend(self.processor.process(_input(record)))
            firsts[tp] = records[0].offset
            commits[tp] = records[-1].offset + 1
        if not await self._publish(outgoing):
            for tp, offset in firsts.items():
                # Re-process the batch: same delivery ids, receivers de-duplicate. A partition revoked
                # meanwhile is re-read by its new owner from the last commit instead.
                with contextlib.suppress(IllegalStateError):
                    consumer.seek(tp, offset)
            await asyncio.sleep(0.5)
            return
        try:
            await consumer.commit(commits)
        except (CommitFailedError, KafkaError) as exc:
            # A rebalance took the partitions; their new owner re-reads from the last commit.
            logger.warning("offset commit failed", extra={"error": type(exc).__name__})
        for tp, next_offset in commits.items():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                self.metrics.set_lag(self.settings.group_id, tp.topic, tp.partition, highwater - next_offset)

    async def _publish(self, outgoing: list[Outgoing]) -> bool:
        """Send everything and wait for the broker's acks; False when anything failed."""
        if not outgoing:
            return True
        assert self._producer is not None
        try:
            futures = [
                await self._producer.send(o.topic, o.value, key=o.key, headers=o.headers) for o in outgoing
            ]
            await asyncio.gather(*futures)
        except KafkaError as exc:
            logger.warning(
                "publishing jobs failed; the batch will be re-processed", extra={"error": type(exc).__name__}
            )
            return False
        for o in outgoing:
            if o.job_labels is not None:
                self.metrics.jobs_emitted.labels(*o.job_labels).inc()
        return True


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
