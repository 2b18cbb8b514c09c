"""One job, start to finish: resolve config, guard the endpoint, send, decide what to publish.

:meth:`Deliverer.handle` returns the records a job produces (result, retry hop, dead letter,
invalid record); the consumer hands them to the :class:`~delivery_worker.outbox.Outbox` and commits
the job once they are acknowledged. Error handling: endpoint problems never raise (``send_webhook``
returns a classified result); a record that is not a job goes to the invalid-events topic; a
webhook whose secrets or auth do not decrypt is an ``invalid_config`` attempt (dead-lettered, no
retry).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from contracts.base import utcnow
from contracts.deliveries import AttemptSummary, CircuitState, DeliveryJobV1, Outcome
from contracts.events import InvalidEventV1
from contracts.topics import Topics
from contracts.webhooks import WebhookConfigV1
from delivery_worker.backoff import next_delay
from delivery_worker.limits import WebhookGuards, should_park
from delivery_worker.metrics import WorkerMetrics
from delivery_worker.outbox import Publication
from delivery_worker.plan import (
    dead_letter_publication,
    result_for,
    result_publication,
    retry_publication,
    with_attempt,
)
from service_kit.config_view import WebhookView
from webhook_core.outcome import classify
from webhook_core.secrets_crypto import SecretBox
from webhook_core.sending import Auth, SendResult, build_headers, send_webhook
from webhook_core.ssrf import Resolver, SsrfPolicy
from webhook_core.webhook_secrets import decrypt_auth, secret_context

logger = logging.getLogger(__name__)

_UNKNOWN_LANE_LIMIT = 8


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

    @property
    def park_after_s(self) -> float:
        """Parking pays off only for a queue that takes longer to drain than the shortest tier."""
        return float(min(self.topics.retry_tiers_s))


@dataclass(frozen=True)
class _Credentials:
    version: tuple[int, datetime]
    active: list[str]
    """Signing secrets valid until ``recheck_at`` (unix seconds: the next expiry among them)."""
    auth: Auth
    recheck_at: float


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
        self.guards: dict[str, WebhookGuards] = {}
        self._not_closed: set[str] = set()
        self._credential_cache: dict[str, _Credentials] = {}
        self._global = asyncio.Semaphore(max_concurrency)
        self.in_flight = 0
        metrics.in_flight.set_function(lambda: self.in_flight)
        metrics.watch_integrations(view)

    async def handle(self, record: ConsumerRecord[bytes, bytes]) -> list[Publication]:
        """Process one record of a deliveries, priority or retry topic; returns the records to publish."""
        headers: list[tuple[str, bytes]] = list(record.headers or [])
        try:
            job = DeliveryJobV1.model_validate_json(record.value or b"")
        except ValidationError as exc:
            return [self._invalid(record, headers, exc)]
        now = utcnow()
        if (
            job.not_before is not None
            and (job.not_before - now).total_seconds() > self.options.due_tolerance_s
        ):
            publication, _ = retry_publication(self.options.topics, job, headers, now)
            return [publication]  # not due yet: hop to the next tier, no attempt
        config = self.view.webhooks.get(job.webhook_id)
        if config is None and self._may_not_be_known_yet(job, now):
            # The dispatcher can see a new webhook before this worker's view does: defer, don't cancel.
            return [self._parked(job, headers, now)]
        if config is None or not config.active:
            reason = "webhook deleted" if config is None else "webhook inactive"
            return [self._cancel(job, reason)]
        guards = self._guards(job.webhook_id)
        await guards.limiter.acquire(config.max_in_flight)
        acquired = self.clock()
        guards.slot_time.started(acquired)
        try:
            return await self._guarded_attempt(job, config, headers, guards)
        finally:
            guards.limiter.release()
            guards.slot_time.record(self.clock() - acquired)

    def lane_limit(self, key: bytes | None) -> int:
        """How many jobs of one record key (a webhook id) may run at once: the webhook's max_in_flight.

        Unknown keys (a webhook not in the view, a foreign record) get a few: their jobs are cancels,
        deferrals or invalid records, none of which makes a request.
        """
        config = self.view.webhooks.get(key.decode("utf-8", errors="replace")) if key else None
        return max(1, config.max_in_flight) if config is not None else _UNKNOWN_LANE_LIMIT

    def should_park(
        self, key: bytes | None, waiting: int, window_load: float, window_drain_s: Callable[[], float]
    ) -> bool:
        """Whether a newly fetched job of this key should go round the shortest retry tier (see
        :func:`delivery_worker.limits.should_park`) rather than queue behind ``waiting`` others;
        ``window_load`` is the share of the fetching consumer's window in use and ``window_drain_s()``
        how long that window would take to drain at its recent rate of finished jobs (a callable,
        evaluated only for a lane long enough to matter: this runs for every fetched job)."""
        if waiting < self.options.max_queued_per_webhook or key is None:
            return False
        webhook_id = key.decode("utf-8", errors="replace")
        config = self.view.webhooks.get(webhook_id)
        if config is None:
            return False  # its jobs make no request: they never hold the queue up for long
        return should_park(
            waiting=waiting,
            max_queued=self.options.max_queued_per_webhook,
            window_load=window_load,
            window_drain_s=window_drain_s(),
            max_in_flight=config.max_in_flight,
            slot_time_s=self._guards(webhook_id).slot_time.estimate(self.clock()),
            park_after_s=self.options.park_after_s,
        )

    def park(self, record: ConsumerRecord[bytes, bytes]) -> list[Publication]:
        """The record re-routed through the shortest retry tier without an attempt."""
        headers: list[tuple[str, bytes]] = list(record.headers or [])
        try:
            job = DeliveryJobV1.model_validate_json(record.value or b"")
        except ValidationError as exc:
            return [self._invalid(record, headers, exc)]
        return [self._parked(job, headers, utcnow())]

    def _guards(self, webhook_id: str) -> WebhookGuards:
        guards = self.guards.get(webhook_id)
        if guards is None:
            guards = self.guards[webhook_id] = WebhookGuards()
        return guards

    async def _guarded_attempt(
        self,
        job: DeliveryJobV1,
        config: WebhookConfigV1,
        headers: Sequence[tuple[str, bytes]],
        guards: WebhookGuards,
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
            self._refresh_circuit_gauge(job.webhook_id, state)
            return self._deferral(job, headers, breaker.retry_at(now) - now, state)
        attempted_at = utcnow()
        try:
            result = await self._send(job, config)
        except asyncio.CancelledError:
            breaker.release_probe()
            raise
        if result.success or (result.status_code is not None and not result.classification.retryable):
            breaker.record_success()  # the endpoint answered: it is up, whatever it thought of the request
        elif result.classification.retryable:
            breaker.record_failure(self.clock())
        else:
            breaker.release_probe()  # nothing was sent (SSRF, invalid config): no verdict on the endpoint
        state = breaker.state(self.clock())
        self._refresh_circuit_gauge(job.webhook_id, state)
        return self._after_attempt(job, config, headers, result, attempted_at, state)

    async def _send(self, job: DeliveryJobV1, config: WebhookConfigV1) -> SendResult:
        body = job.body.encode()
        try:
            secrets, auth = self._credentials(config)
            headers = build_headers(job.delivery_id, int(time.time()), body, secrets, auth)
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
        async with self._global:
            self.in_flight += 1
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
            finally:
                self.in_flight -= 1
        self.metrics.child(self.metrics.duration, job.integration_id).observe(time.perf_counter() - started)
        return result

    def _after_attempt(
        self,
        job: DeliveryJobV1,
        config: WebhookConfigV1,
        headers: Sequence[tuple[str, bytes]],
        result: SendResult,
        attempted_at: datetime,
        state: CircuitState,
    ) -> list[Publication]:
        topics = self.options.topics
        now = utcnow()
        payload = self._encrypt_payload(job)

        def result_record(outcome: Outcome, next_at: datetime | None = None) -> Publication:
            res = result_for(
                job,
                outcome,
                attempted_at,
                status_code=result.status_code,
                error_category=result.error_category,
                error_message=result.error,
                response_ms=result.response_ms,
                response_body=result.response_body,
                next_attempt_at=next_at,
                circuit_state=state,
                gone=result.classification.gone,
                payload_encrypted=payload,
            )
            return result_publication(topics, res)

        category = result.error_category or "none"
        if result.success:
            self.metrics.child(self.metrics.attempts, job.integration_id, "succeeded", "none").inc()
            source_time = job.published_at or job.dispatched_at
            self.metrics.event_to_delivery.observe(max(0.0, (now - source_time).total_seconds()))
            if logger.isEnabledFor(
                logging.DEBUG
            ):  # the result record is the audit trail; no line per success
                logger.debug(
                    "delivered",
                    extra={
                        "delivery_id": job.delivery_id,
                        "webhook_id": job.webhook_id,
                        "attempt": job.attempt,
                    },
                )
            return [result_record("succeeded")]
        summary = AttemptSummary(
            attempt=job.attempt,
            attempted_at=attempted_at,
            outcome="failed",
            status_code=result.status_code,
            error_category=result.error_category,
            error=result.error,
            response_ms=result.response_ms,
        )
        policy = config.retry_policy
        log_extra = {
            "delivery_id": job.delivery_id,
            "webhook_id": job.webhook_id,
            "attempt": job.attempt,
            "status": result.status_code,
            "error_category": result.error_category,
        }
        if result.classification.retryable and job.attempt < policy.max_attempts:
            delay = next_delay(
                job.attempt,
                policy,
                error_category=result.error_category,
                status_code=result.status_code,
                retry_after=result.retry_after,
                now=now,
                floor_s=self.options.retry_floor_s,
            )
            next_at = now + timedelta(seconds=delay)
            retry_job = with_attempt(job, summary, next_at)
            hop, tier = retry_publication(topics, retry_job, headers, now)
            self.metrics.child(self.metrics.attempts, job.integration_id, "retrying", category).inc()
            self.metrics.child(self.metrics.retries, str(tier)).inc()
            logger.info("attempt failed, retry scheduled", extra={**log_extra, "delay_s": round(delay, 3)})
            return [hop, result_record("retrying", next_at)]
        reason = "max_attempts" if result.classification.retryable else "non_retryable"
        final_job = with_attempt(job, summary, None)
        self.metrics.child(self.metrics.attempts, job.integration_id, "dead_lettered", category).inc()
        self.metrics.child(self.metrics.dead_lettered, job.integration_id, reason).inc()
        logger.info("attempt failed, dead-lettered", extra={**log_extra, "reason": reason})
        text = (
            f"gave up after {job.attempt} attempts"
            if reason == "max_attempts"
            else f"{result.error_category} is not retryable"
        )
        return [
            dead_letter_publication(
                topics, final_job, text, result.error_category, result.status_code, headers, now
            ),
            result_record("dead_lettered"),
        ]

    def _deferral(
        self, job: DeliveryJobV1, headers: Sequence[tuple[str, bytes]], retry_in_s: float, state: CircuitState
    ) -> list[Publication]:
        """The circuit is open: the job goes back to the retry path without a request (no attempt used)."""
        now = utcnow()
        next_at = now + timedelta(seconds=max(0.0, retry_in_s))
        deferred = job.model_copy(update={"not_before": next_at})
        hop, tier = retry_publication(self.options.topics, deferred, headers, now)
        self.metrics.child(self.metrics.attempts, job.integration_id, "retrying", "circuit_open").inc()
        self.metrics.child(self.metrics.retries, str(tier)).inc()
        res = result_for(
            job,
            "retrying",
            now,
            error_category="circuit_open",
            error_message="circuit open: not sent",
            next_attempt_at=next_at,
            circuit_state=state,
            payload_encrypted=self._encrypt_payload(job),
        )
        return [hop, result_publication(self.options.topics, res)]

    def _may_not_be_known_yet(self, job: DeliveryJobV1, now: datetime) -> bool:
        """Unknown webhook, no tombstone seen, and the job is younger than the grace period."""
        if job.webhook_id in self.view.deleted:
            return False
        return (now - job.dispatched_at).total_seconds() < self.options.unknown_webhook_grace_s

    def _parked(self, job: DeliveryJobV1, headers: Sequence[tuple[str, bytes]], now: datetime) -> Publication:
        """The job on the shortest retry tier, no attempt used."""
        parked = job.model_copy(
            update={"not_before": now + timedelta(seconds=min(self.options.topics.retry_tiers_s))}
        )
        publication, tier = retry_publication(self.options.topics, parked, headers, now)
        self.metrics.child(self.metrics.retries, str(tier)).inc()
        self.metrics.parked.inc()
        return publication

    def _cancel(self, job: DeliveryJobV1, reason: str) -> Publication:
        self.metrics.child(self.metrics.attempts, job.integration_id, "cancelled", "cancelled").inc()
        res = result_for(
            job,
            "cancelled",
            utcnow(),
            error_category="cancelled",
            error_message=reason,
            payload_encrypted=self._encrypt_payload(job),
        )
        logger.info(
            "delivery cancelled", extra={"delivery_id": job.delivery_id, "webhook_id": job.webhook_id}
        )
        return result_publication(self.options.topics, res)

    def _invalid(
        self, record: ConsumerRecord[bytes, bytes], headers: Sequence[tuple[str, bytes]], exc: ValidationError
    ) -> Publication:
        # The reason names fields and problems only: pydantic's default text would echo input values (PHI).
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}"
            for err in exc.errors(include_input=False)[:5]
        )
        self.metrics.invalid_jobs.inc()
        logger.warning("not a delivery job", extra={"topic": record.topic, "offset": record.offset})
        invalid = InvalidEventV1(
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key_b64=base64.b64encode(record.key).decode() if record.key is not None else None,
            value_b64=base64.b64encode(record.value or b"").decode(),
            headers={k: v.decode("utf-8", errors="replace") for k, v in headers},
            reason=f"not a delivery_job.v1: {problems}"[:2000],
            received_at=utcnow(),
        )
        key = record.key.decode("utf-8", errors="replace") if record.key else ""
        return Publication(self.options.topics.invalid_events, key, invalid.to_bytes())

    def _credentials(self, config: WebhookConfigV1) -> tuple[list[str], Auth]:
        """Signing secrets valid now and the auth object, decrypted once per config version."""
        now = time.time()
        cached = self._credential_cache.get(config.id)
        if (
            cached is None
            or cached.version != (config.version, config.updated_at)
            or now >= cached.recheck_at
        ):
            cached = self._load_credentials(config, now)
            self._credential_cache[config.id] = cached
        return cached.active, cached.auth

    def _load_credentials(self, config: WebhookConfigV1, now: float) -> _Credentials:
        secrets = [
            (self.box.decrypt(item.encrypted, secret_context(config.id)), item.expires_at)
            for item in config.signing_secrets
        ]
        auth = decrypt_auth(self.box, config.id, config.auth_encrypted)
        # Same rule as webhook_secrets.active_signing_secrets: an old secret signs until it expires.
        active = [secret for secret, expires in secrets if expires is None or expires.timestamp() > now]
        expiries = [e.timestamp() for _, e in secrets if e is not None and e.timestamp() > now]
        return _Credentials(
            (config.version, config.updated_at), active, auth, min(expiries, default=math.inf)
        )

    def _encrypt_payload(self, job: DeliveryJobV1) -> str:
        return self.box.encrypt(job.body, f"delivery:{job.delivery_id}")

    def _refresh_circuit_gauge(self, webhook_id: str, state: CircuitState) -> None:
        # A set of not-closed webhooks keeps this O(1) per attempt, whatever the number of webhooks.
        before = len(self._not_closed)
        if state == "closed":
            self._not_closed.discard(webhook_id)
        else:
            self._not_closed.add(webhook_id)
        if len(self._not_closed) != before:
            self.metrics.circuit_open.set(len(self._not_closed))
