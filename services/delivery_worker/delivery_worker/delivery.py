"""One job, start to finish: resolve config, guard the endpoint, send, decide what to publish.

:meth:`Deliverer.handle` returns the records a job produces (result, retry hop, dead letter,
invalid record); the consumer hands them to the :class:`~delivery_worker.outbox.Outbox` and commits
the job once they are acknowledged. Error handling: endpoint problems never raise (``send_webhook``
returns a classified result); a record that is not a job goes to the invalid-events topic; a
webhook whose secrets or auth do not decrypt is an ``invalid_config`` attempt (dead-lettered, no
retry). Whatever raises after a request was sent ends the job with a ``handler_error`` dead letter
that records the attempt, so no request is ever repeated without an attempt on record; an
exception before the send is retried by the consumer, at most
:data:`~delivery_worker.decision.HANDLER_ERROR_LIMIT` times (then :meth:`Deliverer.handler_failed`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeAlias

import aiohttp
from aiokafka.structs import ConsumerRecord

from contracts.base import utcnow
from contracts.deliveries import CircuitState, DeliveryJobV1
from contracts.headers import HeaderValue
from contracts.topics import Topics
from contracts.webhooks import WebhookConfigV1
from delivery_worker.credentials import CredentialCache
from delivery_worker.decision import (
    Decision,
    DecisionPolicy,
    RetryAt,
    Succeeded,
    decide,
    handler_error,
)
from delivery_worker.endpoints import Endpoints
from delivery_worker.job_records import JobRecords
from delivery_worker.limits import CircuitBreaker, InFlightLimiter, WebhookGuards
from delivery_worker.metrics import WorkerMetrics
from delivery_worker.outbox import Publication
from delivery_worker.plan import (
    DEFAULT_MAX_RECORD_BYTES,
    result_for,
)
from service_kit.config_view import WebhookView
from service_kit.tracing import Span, SpanKind, inject_http, span_from, tracer, tracing_on
from webhook_core.outcome import classify
from webhook_core.payload_crypto import Payloads
from webhook_core.secrets_crypto import SecretBox
from webhook_core.sending import SendResult, build_headers, send_webhook
from webhook_core.ssrf import Resolver, SsrfPolicy

logger = logging.getLogger(__name__)

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
RecordHeaders = Sequence[tuple[str, HeaderValue]]
_ENCRYPTION_OVERHEAD = 1.4
"""Encrypted + base64 size over plaintext size (with room): a body above the budget is not encrypted."""


class _MaybeSentError(Exception):
    """``send_webhook`` raised: the request may or may not have gone out."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True)
class DeliveryOptions:
    """The settings one delivery needs."""

    topics: Topics
    policy: SsrfPolicy
    allow_http: bool
    circuit_threshold: int
    circuit_cooldown_s: float
    retry_floor_s: float
    due_tolerance_s: float
    max_queued_per_webhook: int = 200
    unknown_webhook_grace_s: float = 60.0
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    payload_encryption: bool = True

    @property
    def park_after_s(self) -> float:
        """Parking pays off only for a queue that takes longer to drain than the shortest tier."""
        return float(min(self.topics.retry_tiers_s))


class Deliverer:
    """Delivers jobs; one instance per worker process, shared by every partition."""

    def __init__(
        self,
        options: DeliveryOptions,
        view: WebhookView,
        session: aiohttp.ClientSession,
        box: SecretBox,
        metrics: WorkerMetrics,
        max_concurrency: int,
        resolver: Resolver,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self.view = view
        self.session = session
        self.box = box
        self.metrics = metrics
        self.resolver = resolver
        self.clock = clock
        self.endpoints = Endpoints(
            view,
            metrics,
            max_queued_per_webhook=options.max_queued_per_webhook,
            park_after_s=options.park_after_s,
            clock=clock,
        )
        self.credentials = CredentialCache(box, view)
        self.tracer = tracer("carehooks.delivery_worker")
        # Decided once: with tracing off no header is injected (no current-span lookups per job).
        self.traced = tracing_on(self.tracer)
        payloads = Payloads(box, encrypt=options.payload_encryption)
        self.records = JobRecords(
            options.topics, payloads, metrics, options.max_record_bytes, traced=self.traced
        )
        # POSTs in flight, at most max_concurrency: a job waits here, before its timeout starts,
        # rather than for a connection inside aiohttp, where the wait would count against it.
        self.max_concurrency = max_concurrency
        self.sending = InFlightLimiter()
        metrics.in_flight.set_function(lambda: self.sending.in_flight)
        metrics.watch_integrations(view)

    async def handle(self, record: Record) -> list[Publication]:
        """Process one record of a deliveries, priority or retry topic; returns the records to publish."""
        headers = list(record.headers or [])
        job = self.records.job_of(record)
        if isinstance(job, Publication):
            return [job]
        now = utcnow()
        if (
            job.not_before is not None
            and (job.not_before - now).total_seconds() > self.options.due_tolerance_s
        ):
            return self.records.hop(job, headers, now)  # not due yet: hop to the next tier, no attempt
        config = self.view.webhooks.get(job.webhook_id)
        if config is None and self._may_not_be_known_yet(job, now):
            # The dispatcher can see a new webhook before this worker's view does: defer, don't cancel.
            return self._parked(job, headers, now)
        if config is None or not config.active:
            reason = "webhook deleted" if config is None else "webhook inactive"
            return [self._cancel(job, reason)]
        guards = self.endpoints.guards_of(job.webhook_id)
        if not guards.limiter.try_acquire(config.max_in_flight):
            await guards.limiter.acquire(config.max_in_flight)
        acquired = self.clock()
        guards.slot_time.started(acquired)
        try:
            return await self._guarded_attempt(job, config, headers, guards)
        finally:
            guards.limiter.release()
            guards.slot_time.record(self.clock() - acquired)

    def park(self, record: Record) -> list[Publication]:
        """The record re-routed through the shortest retry tier without an attempt."""
        job = self.records.job_of(record)
        if isinstance(job, Publication):
            return [job]
        return self._parked(job, list(record.headers or []), utcnow())

    def handler_failed(self, record: Record, exc: BaseException, times: int) -> list[Publication]:
        """The end of a job whose handling raised unexpectedly ``times`` times: a ``handler_error``
        dead letter and result (an invalid record when the record is not a job)."""
        job = self.records.job_of(record)
        if isinstance(job, Publication):
            return [job]
        decision = handler_error(exc, times)
        self._count(job, decision, "handler_error")
        return self.records.end(job, list(record.headers or []), decision, None, utcnow(), "closed")

    async def _guarded_attempt(
        self, job: DeliveryJobV1, config: WebhookConfigV1, headers: RecordHeaders, guards: WebhookGuards
    ) -> list[Publication]:
        """Rate limit, circuit breaker, then the attempt; returns what to publish."""
        bucket = guards.bucket_for(config.rate_limit_per_s, self.clock())
        if bucket is not None:
            wait = bucket.reserve(self.clock())
            if wait > 0:
                await asyncio.sleep(wait)
        breaker = guards.breaker_for(
            self.options.circuit_threshold,
            self.options.circuit_cooldown_s,
            config.retry_policy.max_delay_ms / 1000,
        )
        if breaker.admit(self.clock()) == "reject":
            now = self.clock()
            state = breaker.state(now)
            self.endpoints.circuit_changed(job.webhook_id, state)
            return self._deferral(job, headers, breaker.retry_at(now) - now, state)
        # One span per attempt, in the trace of the job's traceparent (the dispatch span's).
        with span_from(self.tracer, "delivery attempt", headers, SpanKind.CLIENT) as span:
            return await self._attempt(job, config, headers, breaker, span)

    async def _attempt(
        self,
        job: DeliveryJobV1,
        config: WebhookConfigV1,
        headers: RecordHeaders,
        breaker: CircuitBreaker,
        span: Span,
    ) -> list[Publication]:
        attempted_at = utcnow()
        try:
            result = await self._send(job, config)
        except _MaybeSentError as exc:  # a request may have gone out: end the job, never send it again
            breaker.release_probe()
            logger.error("sending raised", extra={"delivery_id": job.delivery_id, "error": exc.name})
            span.set_attribute("carehooks.error_category", "handler_error")
            dead = handler_error(exc.__cause__ or exc, 1)
            self._count(job, dead, "handler_error")
            return self.records.end(job, headers, dead, None, attempted_at, "closed")
        except BaseException:
            breaker.release_probe()
            raise
        try:
            if result.success or (result.status_code is not None and not result.classification.retryable):
                breaker.record_success()  # the endpoint answered: it is up, whatever it thought of the request
            elif result.classification.retryable:
                breaker.record_failure(self.clock())
            else:
                breaker.release_probe()  # nothing was sent (SSRF, invalid config): no verdict on the endpoint
            if span.is_recording():  # ids, numbers and categories only, never payload data
                _attempt_attributes(span, job, result)
            state = breaker.state(self.clock())
            self.endpoints.circuit_changed(job.webhook_id, state)
            now = utcnow()  # one reading for the decision, the metrics and the records
            decision = decide(
                job, result, DecisionPolicy(config.retry_policy, self.options.retry_floor_s), now
            )
            self._count(job, decision, result.error_category or "none", result, now)
            return self.records.end(job, headers, decision, result, attempted_at, state, now)
        except Exception as exc:  # the request went out: never let the job be handled (sent) again
            logger.exception("handling after the attempt failed", extra={"delivery_id": job.delivery_id})
            dead = handler_error(exc, 1)
            self._count(job, dead, "handler_error", result)
            return self.records.end(job, headers, dead, result, attempted_at, "closed")

    async def _send(self, job: DeliveryJobV1, config: WebhookConfigV1) -> SendResult:
        body = job.body_text.encode()
        try:
            wall = time.time()
            secrets, auth = self.credentials.get(config, wall)
            headers = build_headers(job.delivery_id, int(wall), body, secrets, auth)
            if self.traced:
                inject_http(headers)  # the attempt span's traceparent, so the receiver can join the trace
        except ValueError as exc:  # DecryptionError, ValidationError and reserved header names
            logger.warning(
                "webhook secrets or auth unusable",
                extra={"webhook_id": config.id, "error": type(exc).__name__},
            )
            return SendResult(
                status_code=None,
                response_ms=0,
                response_body="",
                error_category="invalid_config",
                error=f"webhook secrets or auth could not be used ({type(exc).__name__})",
                retry_after=None,
                classification=classify(None, "invalid_config"),
            )
        if not self.sending.try_acquire(self.max_concurrency):
            await self.sending.acquire(self.max_concurrency)
        started = time.perf_counter()
        try:
            result = await send_webhook(
                self.session,
                config.subscription_url,
                body,
                headers,
                config.timeout_ms / 1000,
                self.options.policy,
                self.options.allow_http,
                self.resolver,
            )
        except Exception as exc:  # send_webhook classifies endpoint problems; anything else is a bug
            raise _MaybeSentError(type(exc).__name__) from exc
        finally:
            self.sending.release()
        self.metrics.of_integration(job.integration_id).duration.observe(time.perf_counter() - started)
        return result

    def _count(
        self,
        job: DeliveryJobV1,
        decision: Decision,
        category: str,
        result: SendResult | None = None,
        now: datetime | None = None,
    ) -> None:
        """Metrics and the log line of a decision (no line per success: the result is the audit trail)."""
        if isinstance(decision, Succeeded):
            self.metrics.of_integration(job.integration_id).succeeded.inc()
            source_time = job.published_at or job.dispatched_at
            ended = now or utcnow()
            self.metrics.event_to_delivery.observe(max(0.0, (ended - source_time).total_seconds()))
            return
        extra = {
            "delivery_id": job.delivery_id,
            "webhook_id": job.webhook_id,
            "attempt": job.attempt,
            "status": result.status_code if result is not None else None,
            "error_category": result.error_category if result is not None else category,
        }
        if isinstance(decision, RetryAt):
            self.metrics.child(self.metrics.attempts, job.integration_id, "retrying", category).inc()
            logger.info(
                "attempt failed, retry scheduled", extra={**extra, "delay_s": round(decision.delay_s, 3)}
            )
            return
        self.metrics.child(self.metrics.attempts, job.integration_id, "dead_lettered", category).inc()
        self.metrics.child(self.metrics.dead_lettered, job.integration_id, decision.reason).inc()
        logger.info("dead-lettered", extra={**extra, "reason": decision.reason})

    def _deferral(
        self, job: DeliveryJobV1, headers: RecordHeaders, retry_in_s: float, state: CircuitState
    ) -> list[Publication]:
        """The circuit is open: the job goes back to the retry path without a request (no attempt used)."""
        now = utcnow()
        next_at = now + timedelta(seconds=max(0.0, retry_in_s))
        records = self.records.hop(job.model_copy(update={"not_before": next_at}), headers, now)
        if len(records) == 1 and records[0].topic == self.options.topics.delivery_results:
            return records
        self.metrics.child(self.metrics.attempts, job.integration_id, "retrying", "circuit_open").inc()
        result = self.records.result(
            job,
            result_for(
                job,
                "retrying",
                now,
                error_category="circuit_open",
                error_message="circuit open: not sent",
                next_attempt_at=next_at,
                circuit_state=state,
            ),
        )
        return [*records, result]

    def _may_not_be_known_yet(self, job: DeliveryJobV1, now: datetime) -> bool:
        """Unknown webhook, no tombstone seen, and the job is younger than the grace period."""
        if job.webhook_id in self.view.deleted:
            return False
        return (now - job.dispatched_at).total_seconds() < self.options.unknown_webhook_grace_s

    def _parked(self, job: DeliveryJobV1, headers: RecordHeaders, now: datetime) -> list[Publication]:
        """The job on the shortest retry tier, no attempt used."""
        delay = timedelta(seconds=min(self.options.topics.retry_tiers_s))
        records = self.records.hop(job.model_copy(update={"not_before": now + delay}), headers, now)
        self.metrics.parked.inc()
        return records

    def _cancel(self, job: DeliveryJobV1, reason: str) -> Publication:
        self.metrics.child(self.metrics.attempts, job.integration_id, "cancelled", "cancelled").inc()
        self.credentials.drop(job.webhook_id)
        logger.info(
            "delivery cancelled", extra={"delivery_id": job.delivery_id, "webhook_id": job.webhook_id}
        )
        res = result_for(job, "cancelled", utcnow(), error_category="cancelled", error_message=reason)
        return self.records.result(job, res)


def _attempt_attributes(span: Span, job: DeliveryJobV1, result: SendResult) -> None:
    span.set_attributes(
        {
            "carehooks.delivery_id": job.delivery_id,
            "carehooks.webhook_id": job.webhook_id,
            "carehooks.attempt": job.attempt,
            "carehooks.error_category": result.error_category or "none",
        }
    )
    if result.status_code is not None:
        span.set_attribute("http.response.status_code", result.status_code)
