"""The in-memory view of webhook configuration, built from the compacted ``webhooks.config`` topic.

Dispatcher and delivery worker never touch PostgreSQL. Each instance reads the topic from the
beginning at start-up (no consumer group, every partition assigned), becomes ready once it has
reached the end offsets it saw at start, then keeps following. A restarted or new instance
therefore converges to the same view.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import TypeAdapter, ValidationError

from contracts.webhooks import PRIORITY_RULES_KEY_PREFIX, ConfigRecord, PriorityRulesV1, WebhookConfigV1
from service_kit.kafka import assign_from_beginning, consumer_options
from service_kit.kafka_security import KafkaClientSettings

logger = logging.getLogger(__name__)
CATCH_UP_POLL_MS = 200
"""Poll timeout until the view caught up (an empty poll ends the catch-up, so it sets the start time)."""
FOLLOW_POLL_MS = 1000
"""Poll timeout afterwards: one idle wake-up a second; a record ends the wait at once."""

_RECORD = TypeAdapter[WebhookConfigV1 | PriorityRulesV1](ConfigRecord)


@dataclass(frozen=True)
class ConfigChange:
    """What changed in the view: ``previous`` and ``current`` are None for create/delete."""

    key: str
    previous: WebhookConfigV1 | PriorityRulesV1 | None
    current: WebhookConfigV1 | PriorityRulesV1 | None


class WebhookView:
    """Current webhooks (by id) and priority rules (by integration id)."""

    def __init__(self) -> None:
        self.webhooks: dict[str, WebhookConfigV1] = {}
        self.deleted: set[str] = set()
        """Webhook ids whose tombstone this view has seen (compaction may drop old ones)."""
        self.priority_rules: dict[str, PriorityRulesV1] = {}
        self.invalid_records = 0
        self._listeners: list[Callable[[ConfigChange], None]] = []

    def subscribe(self, listener: Callable[[ConfigChange], None]) -> None:
        """Call ``listener`` after every change (used to keep indexes in step)."""
        self._listeners.append(listener)

    def apply(self, key: str, value: bytes | None) -> ConfigChange | None:
        """Apply one record of the config topic; returns the change, or None when ignored."""
        previous: WebhookConfigV1 | PriorityRulesV1 | None
        current: WebhookConfigV1 | PriorityRulesV1 | None
        if key.startswith(PRIORITY_RULES_KEY_PREFIX):
            integration_id = key[len(PRIORITY_RULES_KEY_PREFIX) :]
            previous = self.priority_rules.get(integration_id)
            if value is None:
                self.priority_rules.pop(integration_id, None)
                current = None
            else:
                record = self._parse(value)
                if not isinstance(record, PriorityRulesV1):
                    return None
                self.priority_rules[integration_id] = record
                current = record
        else:
            previous = self.webhooks.get(key)
            if value is None:
                self.webhooks.pop(key, None)
                self.deleted.add(key)
                current = None
            else:
                record = self._parse(value)
                if not isinstance(record, WebhookConfigV1) or record.id != key:
                    self.invalid_records += 1
                    return None
                if previous is not None and record.version < previous.version:
                    return None  # an older version re-published (e.g. a snapshot racing an update)
                self.webhooks[key] = record
                self.deleted.discard(key)
                current = record
        change = ConfigChange(key=key, previous=previous, current=current)
        for listener in self._listeners:
            listener(change)
        return change

    def _parse(self, value: bytes) -> WebhookConfigV1 | PriorityRulesV1 | None:
        try:
            return _RECORD.validate_json(value)
        except ValidationError:
            self.invalid_records += 1
            logger.warning("ignored an invalid record on the config topic")
            return None


class RecordSink(Protocol):
    """What a follower feeds each record of a compacted topic to (a :class:`WebhookView`, an index)."""

    def apply(self, key: str, value: bytes | None) -> object: ...


class ConfigFollower:
    """Reads ``webhooks.config`` from the beginning into a :class:`WebhookView`, then follows it.

    ``also`` adds more compacted topics, each with its own sink, to the same consumer (the dispatcher's
    patient index): one consumer instead of one per topic, so one fetch per wait for all of them, which
    on a broker that holds every fetch for its whole wait is one polling loop fewer per topic. Ready
    once every topic is caught up.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        client: KafkaClientSettings,
        topic: str,
        view: WebhookView,
        fetch_max_wait_ms: int = 500,
        also: Mapping[str, RecordSink] | None = None,
    ) -> None:
        self.topic = topic
        self.view = view
        self._sinks: dict[str, RecordSink] = {topic: view, **(also or {})}
        self._options = consumer_options(bootstrap_servers, client, fetch_max_wait_ms)
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._caught_up = asyncio.Event()
        self._targets: dict[TopicPartition, int] = {}
        self.on_records: Callable[[], None] | None = None
        """Called after a fetch that returned records (the service's fetch pacer)."""

    @property
    def consumer(self) -> AIOKafkaConsumer | None:
        """The following consumer (after :meth:`start`)."""
        return self._consumer

    @property
    def ready(self) -> bool:
        """True once the view holds everything that was on the topic at start-up."""
        return self._caught_up.is_set()

    @property
    def task(self) -> asyncio.Task[None]:
        """The following loop (after :meth:`start`), for the service's loop supervisor."""
        if self._task is None:
            raise RuntimeError("the follower has not started")
        return self._task

    async def start(self) -> None:
        """Assign every partition of the topics, seek to the beginning and start following in the
        background."""
        consumer = AIOKafkaConsumer(group_id=None, **self._options)
        try:
            await consumer.start()
            try:
                tps = await assign_from_beginning(consumer, list(self._sinks), timeout_s=10.0)
            except TimeoutError:
                names = " or ".join(repr(name) for name in self._sinks)
                raise RuntimeError(f"config topic {names} does not exist") from None
            ends = await consumer.end_offsets(tps)
        except BaseException:
            await consumer.stop()  # whatever failed (a start included), no client is left behind
            raise
        self._consumer = consumer
        self._targets = {tp: off for tp, off in ends.items() if off > 0}
        self._task = asyncio.create_task(self._follow(), name=f"config-follower:{','.join(self._sinks)}")

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Wait until caught up with every topic (raises TimeoutError)."""
        await asyncio.wait_for(self._caught_up.wait(), timeout_s)

    async def _follow(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        while True:
            try:
                # Short polls until caught up (that takes an empty poll), then long ones: a record
                # ends the wait at once, so the timeout only sets the idle wake-up rate.
                timeout_ms = FOLLOW_POLL_MS if self._caught_up.is_set() else CATCH_UP_POLL_MS
                batches = await consumer.getmany(timeout_ms=timeout_ms, max_records=1000)
            except KafkaError as exc:
                logger.warning("config topic fetch failed, retrying", extra={"error": type(exc).__name__})
                await asyncio.sleep(0.5)
                continue
            if batches and self.on_records is not None:
                self.on_records()
            for tp, records in batches.items():
                sink = self._sinks[tp.topic]
                for record in records:
                    if record.key is None:
                        continue
                    # A key that is not UTF-8 is no webhook's id: replaced, it matches none and is ignored
                    # (a strict decode would raise here and end the follower, and readiness with it).
                    sink.apply(record.key.decode("utf-8", errors="replace"), record.value)
            # The embedded broker can under-report end offsets after a batched send, so the
            # view is caught up only once the targets are reached AND a fetch came back empty.
            if not self._caught_up.is_set() and not batches:
                done = True
                for tp, target in self._targets.items():
                    if await consumer.position(tp) < target:
                        done = False
                        break
                if done:
                    self._caught_up.set()
                    logger.info("config view caught up", extra={"webhooks": len(self.view.webhooks)})

    async def stop(self) -> None:
        """Stop following."""
        if self._task is not None:
            self._task.cancel()
            # A loop that already died with an error must not stop the shutdown (the supervisor reported it).
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()
