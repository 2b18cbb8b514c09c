"""Composition root: ``create_app(settings)`` wires the config view, Kafka clients, HTTP session and loop.

Start order matters: the ops server first (liveness while catching up), then the config view
(jobs must not be judged against a half-loaded view), then the producer, the HTTP session and
finally the job consumer. Shutdown runs in reverse, letting in-flight jobs finish first.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import CollectorRegistry

from delivery_worker.consumer import JobConsumer
from delivery_worker.delivery import Deliverer, DeliveryOptions
from delivery_worker.dns_cache import CachingResolver
from delivery_worker.metrics import WorkerMetrics
from delivery_worker.outbox import Outbox
from delivery_worker.settings import WorkerSettings
from service_kit.config_view import ConfigFollower, WebhookView
from service_kit.fetch_pacing import idle_pacer
from service_kit.kafka import consumer_options, producer_options
from service_kit.ops_http import OpsServer
from service_kit.runtime import current_loop_name
from service_kit.supervisor import LoopSupervisor
from webhook_core.dns import AsyncResolver
from webhook_core.secrets_crypto import SecretBox
from webhook_core.ssrf import Resolver, SsrfPolicy

logger = logging.getLogger(__name__)


class WorkerApp:
    """The delivery worker process: :meth:`start` and :meth:`stop` (run by ``service_kit.service``)."""

    def __init__(
        self,
        settings: WorkerSettings,
        resolver: Resolver | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        # c-ares from the event loop, not getaddrinfo in the thread pool: a black-holed name must not
        # hold up every other webhook's lookups (see webhook_core.dns).
        self.resolver: Resolver = resolver or AsyncResolver(
            timeout_s=settings.dns_timeout_ms / 1000, negative_ttl_s=settings.dns_negative_ttl_ms / 1000
        )
        self.metrics = WorkerMetrics(registry)
        self.view = WebhookView()
        self.follower = ConfigFollower(
            settings.kafka_bootstrap_servers,
            settings,
            settings.topics.webhooks_config,
            self.view,
            settings.kafka_fetch_max_wait_ms,  # a deactivation must reach the worker as fast as the jobs
        )
        self.supervisor = LoopSupervisor()
        self.ops = OpsServer(
            settings.host,
            settings.port,
            ready=lambda: self.ready,
            registry=self.metrics.registry,
            supervisor=self.supervisor,
        )
        self.producer: AIOKafkaProducer | None = None
        self.outbox: Outbox | None = None
        self.session: aiohttp.ClientSession | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.jobs: JobConsumer | None = None
        """The consumer of new jobs (priority and deliveries topics)."""
        self.retry_consumer: AIOKafkaConsumer | None = None
        self.retry_jobs: JobConsumer | None = None
        """The consumer of the retry tiers."""
        self.deliverer: Deliverer | None = None
        self._loop_tasks: list[asyncio.Task[None]] = []
        self._pacing: asyncio.Task[None] | None = None
        self._started = False
        self.metrics.watch_ready(lambda: self.ready)

    @property
    def ready(self) -> bool:
        """Ready once the config view caught up and both job consumers run."""
        return self._started and self.follower.ready and bool(self._loop_tasks) and self.supervisor.healthy

    @property
    def ops_port(self) -> int:
        """The bound ops port (useful when configured as 0)."""
        return self.ops.bound_port

    async def start(self) -> None:
        """Start everything; returns once jobs are being consumed."""
        s = self.settings
        await self.ops.start()
        await self.follower.start()
        self.supervisor.watch(self.follower.task, "config-follower")
        await self.follower.wait_ready(s.ready_timeout_s)
        # Large batches (producer_options): the outbox sends everything a round of jobs produced for one
        # partition as one batch, not cut into 16 KB ones queued behind each other.
        self.producer = AIOKafkaProducer(**producer_options(s.kafka_bootstrap_servers, s))
        await self.producer.start()
        stopping = asyncio.Event()
        self.outbox = Outbox(self.producer, stopping, s.producer_linger_ms / 1000)
        self.supervisor.watch(self.outbox.start(), "outbox-flusher")
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=s.max_concurrency, limit_per_host=0),
            timeout=aiohttp.ClientTimeout(
                total=120
            ),  # each request sets its own, from the webhook's timeout_ms
            cookie_jar=aiohttp.DummyCookieJar(),  # receivers must not be able to plant state across webhooks
        )
        self.deliverer = Deliverer(
            DeliveryOptions(
                topics=s.topics,
                policy=SsrfPolicy(
                    allowed_networks=tuple(s.webhook_allowed_networks), allowed_ports=s.webhook_ports
                ),
                allow_http=s.webhook_allow_http,
                circuit_threshold=s.circuit_failure_threshold,
                circuit_cooldown_s=s.circuit_cooldown_ms / 1000,
                retry_floor_s=s.retry_floor_ms / 1000,
                due_tolerance_s=s.due_tolerance_ms / 1000,
                max_queued_per_webhook=s.max_queued_per_webhook,
                unknown_webhook_grace_s=s.unknown_webhook_grace_ms / 1000,
                max_record_bytes=s.max_record_bytes,
                payload_encryption=s.kafka_payload_encryption,
            ),
            self.view,
            self.session,
            SecretBox(s.secrets_keys),
            self.metrics,
            s.max_concurrency,
            CachingResolver(self.resolver, s.dns_cache_ttl_ms / 1000),
        )
        # Two consumers: new jobs (priority first) polled with the short fetch wait, the retry tiers
        # (due 1 s or more after they were written) with a longer one, in a group of their own.
        self.consumer, self.jobs = self._job_consumer(
            self.deliverer,
            self.outbox,
            s.group_id,
            s.kafka_fetch_max_wait_ms,
            [s.topics.deliveries_priority, s.topics.deliveries],
            stopping,
        )
        self.retry_consumer, self.retry_jobs = self._job_consumer(
            self.deliverer,
            self.outbox,
            f"{s.group_id}-retries",
            s.retry_fetch_max_wait_ms,
            list(s.topics.retry_topics().values()),
            stopping,
        )
        jobs, retry_jobs = self.jobs, self.retry_jobs
        consumer, follower = self.consumer, self.follower
        # New jobs and the config view pace together (the retry tiers wait long anyway).
        jobs.pacer = idle_pacer(lambda: (consumer, follower.consumer), s)
        if jobs.pacer is not None:
            follower.on_records = jobs.pacer.seen
        self.metrics.pending.set_function(lambda: jobs.pending + retry_jobs.pending)
        # start() returns once the group assigned partitions: join both groups at the same time.
        async with asyncio.TaskGroup() as group:
            group.create_task(self.consumer.start())
            group.create_task(self.retry_consumer.start())
        self._loop_tasks = [
            asyncio.create_task(jobs.run(), name="delivery-loop"),
            asyncio.create_task(retry_jobs.run(), name="retry-loop"),
        ]
        for task in self._loop_tasks:
            self.supervisor.watch(task)
        if jobs.pacer is not None:
            self._pacing = asyncio.create_task(jobs.pacer.run(), name="fetch-pacing")
            self.supervisor.watch(self._pacing)
        self._started = True
        logger.info(
            "delivery worker started",
            extra={
                "ops_port": self.ops_port,
                "webhooks": len(self.view.webhooks),
                "event_loop": current_loop_name(),
            },
        )

    def _job_consumer(
        self,
        deliverer: Deliverer,
        outbox: Outbox,
        group_id: str,
        fetch_max_wait_ms: int,
        topics: list[str],
        stopping: asyncio.Event,
    ) -> tuple[AIOKafkaConsumer, JobConsumer]:
        s = self.settings
        consumer = AIOKafkaConsumer(
            group_id=group_id,
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=s.heartbeat_interval_ms,
            **consumer_options(s.kafka_bootstrap_servers, s, fetch_max_wait_ms),
        )
        jobs = JobConsumer(
            consumer,
            deliverer,
            outbox,
            s.topics,
            self.metrics,
            subscribed=topics,
            max_pending=s.max_pending,
            poll_timeout_ms=s.poll_timeout_ms,
            commit_interval_s=s.commit_interval_ms / 1000,
            due_tolerance_ms=s.due_tolerance_ms,
        )
        jobs.stopping = stopping
        jobs.group_id = group_id
        consumer.subscribe(jobs.subscribed, listener=jobs.listener())
        return consumer, jobs

    async def stop(self) -> None:
        """Stop fetching, let in-flight jobs finish (bounded), commit, and close everything."""
        self.supervisor.stopping()
        job_consumers = [j for j in (self.jobs, self.retry_jobs) if j is not None]
        for jobs in job_consumers:
            jobs.stopping.set()
        await asyncio.gather(*self._loop_tasks, return_exceptions=True)  # a dead one was reported already
        if self._pacing is not None:
            self._pacing.cancel()
            await asyncio.gather(self._pacing, return_exceptions=True)
        await asyncio.gather(*(jobs.drain(self.settings.shutdown_grace_s) for jobs in job_consumers))
        for consumer in (self.consumer, self.retry_consumer):
            if consumer is not None:
                await consumer.stop()
        if self.outbox is not None:
            await self.outbox.stop()
        if self.producer is not None:
            await self.producer.stop()
        if self.session is not None:
            await self.session.close()
        if isinstance(self.resolver, AsyncResolver):
            await self.resolver.close()
        await self.follower.stop()
        await self.ops.stop()
        self._started = False
        logger.info("delivery worker stopped")


def create_app(
    settings: WorkerSettings, resolver: Resolver | None = None, registry: CollectorRegistry | None = None
) -> WorkerApp:
    """The one composition root of the worker."""
    return WorkerApp(settings, resolver, registry)
