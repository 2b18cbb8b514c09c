"""Turns one input record into the records to publish (jobs, invalid events, patient-index entries).

No Kafka I/O here: :mod:`dispatcher.app` polls, calls :meth:`EventProcessor.process` per record,
publishes the result and commits only once the broker acknowledged all of it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from contracts.base import utcnow
from contracts.catalogs import CAREHOOKS_INTEGRATION
from contracts.headers import header_text
from contracts.records import PayloadSealer, delivery_job_record, invalid_event
from contracts.topics import Headers, Topics
from dispatcher import fhir, surveymonkey
from dispatcher.enrichment import link_patient
from dispatcher.events import InvalidInputError, NormalisedEvent, ParseResult, load_json
from dispatcher.jobs import build_job, render_body
from dispatcher.matching import WebhookIndex
from dispatcher.metrics import DispatcherMetrics
from dispatcher.operational import parse_ops_record
from dispatcher.patient_index import PatientIndex
from dispatcher.priority import job_priority, rules_priority
from service_kit.config_view import WebhookView
from service_kit.tracing import SpanKind, inject_headers, span_from, tracer
from webhook_core.filters import FilterBudgetExceededError, FilterEvaluationError

logger = logging.getLogger(__name__)

MAX_INTEGRATION_ID = 128
MAX_INVALID_VALUE_BYTES = 1_000_000
"""Original bytes kept on an invalid event (base64 grows them by a third)."""
MAX_INVALID_KEY_BYTES = 1024
"""Original key bytes kept on an invalid event (and used as its Kafka key)."""
MAX_COPIED_HEADERS = 32
MAX_HEADER_NAME_CHARS = 256
MAX_HEADER_VALUE_CHARS = 1024
"""With the reason cut to 2,000 characters by contracts.records.invalid_event, an invalid event stays
bounded: about 1.4 MB at most, whatever the input."""
# Data-shape errors a malformed input can still raise past validation; one bad record must not stop
# the partition, so these become an invalid event instead of a crash.
_DATA_ERRORS = (ValueError, TypeError, KeyError, AttributeError, RecursionError)


@dataclass(frozen=True)
class InputRecord:
    """The parts of a consumed Kafka record the dispatcher uses."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]]
    timestamp_ms: int


@dataclass(frozen=True)
class ProcessingLimits:
    """Size and cost bounds (``DISPATCHER_MAX_INPUT_BYTES``, ``_MAX_JOB_BYTES``, ``_FILTER_BUDGET_STEPS``)."""

    max_input_bytes: int = 1_000_000
    max_job_bytes: int = 3_500_000
    filter_budget_steps: int = 4_000


@dataclass(frozen=True)
class Outgoing:
    """A record to publish; ``job_labels`` (integration, priority) marks delivery jobs for the metric."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    job_labels: tuple[str, str] | None = None


def decode_headers(headers: Sequence[tuple[str, bytes | None]]) -> dict[str, str]:
    """Header values as text, bounded (the first 32 headers, names and values cut to 256 / 1024 chars).

    A header without a value (aiokafka hands None) reads as ""; undecodable bytes are replaced:
    headers are metadata, and these copies end up on invalid events, which must stay small.
    """
    decoded: dict[str, str] = {}
    for name, value in headers[:MAX_COPIED_HEADERS]:
        text = header_text(value[: MAX_HEADER_VALUE_CHARS * 4] if value is not None else None) or ""
        decoded[str(name)[:MAX_HEADER_NAME_CHARS]] = text[:MAX_HEADER_VALUE_CHARS]
    return decoded


class EventProcessor:
    """Parse, enrich, match and build jobs for one record at a time."""

    def __init__(
        self,
        topics: Topics,
        view: WebhookView,
        index: WebhookIndex,
        patients: PatientIndex,
        metrics: DispatcherMetrics,
        phone_region: str,
        sealer: PayloadSealer,
        clock: Callable[[], datetime] = utcnow,
        limits: ProcessingLimits | None = None,
    ) -> None:
        self.sealer = sealer  # encrypts job bodies and invalid copies (KAFKA_PAYLOAD_ENCRYPTION)
        self.limits = limits or ProcessingLimits()
        self.topics = topics
        self.view = view
        self.index = index
        self.patients = patients
        self.metrics = metrics
        metrics.watch_integrations(view)
        self.region = phone_region
        self.clock = clock
        self.tracer = tracer("carehooks.dispatcher")

    def process_safely(self, record: InputRecord, attempts: int = 3) -> list[Outgoing]:
        """:meth:`process`, tried ``attempts`` times when it raises; then an invalid event (handler_error).

        ``process`` already turns bad input into invalid events; this is the net under it, so that no
        record can stop the consumer whatever goes wrong.
        """
        failure = "no attempt"
        for attempt in range(1, attempts + 1):
            try:
                return self.process(record)
            except Exception as exc:  # noqa: BLE001 - the net under every record, by design
                failure = type(exc).__name__
                logger.error(
                    "record handling raised",
                    extra={
                        "topic": record.topic,
                        "partition": record.partition,
                        "offset": record.offset,
                        "attempt": attempt,
                        "error": failure,
                    },
                )
        self.metrics.events_consumed.labels("other", "invalid").inc()
        reason = f"handler_error: handling raised {failure} {attempts} times"
        try:
            return [self.invalid_event(record, decode_headers(record.headers), reason, None)]
        except Exception:  # noqa: BLE001 - last resort: the copy without headers cannot fail on them
            return [self.invalid_event(record, {}, reason, None)]

    def process(self, record: InputRecord) -> list[Outgoing]:
        """Everything to publish for one input record (never raises on bad input), in a ``dispatch``
        span that continues the record's ``traceparent`` (jobs carry the span's own)."""
        with span_from(self.tracer, "dispatch", record.headers, SpanKind.CONSUMER) as span:
            out = self._process(record)
            if span.is_recording():  # ids and counts only, never payload data
                span.set_attributes(
                    {
                        "messaging.destination.name": record.topic,
                        "messaging.kafka.partition": record.partition,
                        "messaging.kafka.offset": record.offset,
                        "carehooks.matched_webhooks": sum(1 for o in out if o.job_labels is not None),
                    }
                )
            return out

    def _process(self, record: InputRecord) -> list[Outgoing]:
        started = time.perf_counter()
        headers = decode_headers(record.headers)
        is_fhir = record.topic == self.topics.fhir_events
        is_ops = record.topic == self.topics.ops
        default = fhir.DEFAULT_INTEGRATION if is_fhir else surveymonkey.DEFAULT_INTEGRATION
        integration_id = headers.get(Headers.INTEGRATION_ID, "").strip() or default
        if is_ops:  # the topic decides, not a header: only webhooks.ops feeds the carehooks integration
            integration_id = CAREHOOKS_INTEGRATION
        kafka_time = datetime.fromtimestamp(max(record.timestamp_ms, 0) / 1000, UTC)
        try:
            if len(integration_id) > MAX_INTEGRATION_ID:
                raise InvalidInputError(f"integration-id header: longer than {MAX_INTEGRATION_ID} characters")
            if integration_id == CAREHOOKS_INTEGRATION and not is_ops:
                # A producer of integration events must not forge carehooks' operational events.
                raise InvalidInputError(
                    f"integration-id header: {CAREHOOKS_INTEGRATION!r} is reserved for operational events"
                )
            size = len(record.value or b"")
            if size > self.limits.max_input_bytes:
                raise InvalidInputError(
                    f"too_large: record of {size} bytes exceeds the {self.limits.max_input_bytes}-byte "
                    "input limit (DISPATCHER_MAX_INPUT_BYTES)"
                )
            doc = load_json(record.value)
            if is_ops:
                ops_event = parse_ops_record(doc)
                result = ParseResult(events=[ops_event] if ops_event is not None else [])
            elif is_fhir:
                interaction = headers.get(Headers.FHIR_INTERACTION)
                result = fhir.parse_fhir(
                    doc, integration_id, interaction.strip() if interaction else None, kafka_time
                )
            else:
                result = ParseResult(
                    events=[surveymonkey.parse_surveymonkey(doc, integration_id, kafka_time)]
                )
            out = [self.invalid_event(record, headers, error.reason, error.index) for error in result.errors]
            for _ in result.errors:
                self.metrics.events_consumed.labels(self.metrics.integration(integration_id), "invalid").inc()
            for event in result.events:
                try:
                    out.extend(self._dispatch(event, kafka_time))
                except InvalidInputError as exc:  # this event only; the bundle's others still go
                    out.append(self.invalid_event(record, headers, str(exc), None))
        except InvalidInputError as exc:
            self.metrics.events_consumed.labels(self.metrics.integration(integration_id), "invalid").inc()
            out = [self.invalid_event(record, headers, str(exc), None)]
        except _DATA_ERRORS as exc:
            logger.warning(
                "record could not be processed",
                extra={
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "error": type(exc).__name__,
                },
            )
            self.metrics.events_consumed.labels(self.metrics.integration(integration_id), "invalid").inc()
            out = [
                self.invalid_event(record, headers, f"could not be processed ({type(exc).__name__})", None)
            ]
        self.metrics.dispatch_duration.observe(time.perf_counter() - started)
        return out

    def _dispatch(self, event: NormalisedEvent, kafka_time: datetime) -> list[Outgoing]:
        out: list[Outgoing] = []
        now = self.clock()
        if event.source == "fhir" and event.object_type == "Patient":
            for key, entry in self.patients.update_from_patient(event, self.region, now):
                value = entry.to_bytes() if entry is not None else None
                out.append(Outgoing(self.topics.patient_index, key.encode(), value, []))
            self.metrics.patient_index_entries.set(len(self.patients))
        elif event.source == "surveymonkey":
            link_patient(event, self.patients, self.region)
        matched = self.index.match(event, self._filter_error, self.limits.filter_budget_steps)
        self.metrics.events_consumed.labels(
            self.metrics.integration(event.integration_id), "matched" if matched else "unmatched"
        ).inc()
        if not matched:
            return out
        body = render_body(event)
        by_rules = rules_priority(event, self.view.priority_rules.get(event.integration_id))
        trace_headers = inject_headers()  # the dispatch span's traceparent (none when tracing is off)
        for webhook in matched:
            priority = job_priority(by_rules, webhook)
            job = self.sealer.seal(build_job(event, webhook, body, priority, now, kafka_time))
            value = job.to_bytes()
            if len(value) > self.limits.max_job_bytes:
                # The broker would refuse it on every retry and stall the partition: report it instead.
                raise InvalidInputError(
                    f"too_large: {event.event_type} {event.object_id}: delivery job of {len(value)} bytes "
                    f"exceeds the {self.limits.max_job_bytes}-byte message limit (DISPATCHER_MAX_JOB_BYTES)"
                )
            topic = self.topics.deliveries_priority if priority == "high" else self.topics.deliveries
            record = delivery_job_record(job, trace_headers, sealer=self.sealer, value=value)
            out.append(
                Outgoing(
                    topic,
                    record.key,
                    record.value,
                    record.headers,
                    (self.metrics.integration(event.integration_id), priority),
                )
            )
        return out

    def _filter_error(self, webhook_id: str, exc: FilterEvaluationError) -> None:
        if isinstance(exc, FilterBudgetExceededError):
            # This webhook is skipped for this event only; the others and the batch go on.
            self.metrics.filter_budget_exceeded.inc()
            logger.warning("filter evaluation budget exceeded", extra={"webhook_id": webhook_id})
            return
        self.metrics.filter_errors.inc()
        logger.info("filter could not be evaluated", extra={"webhook_id": webhook_id, "error": str(exc)})

    def invalid_event(
        self, record: InputRecord, headers: dict[str, str], reason: str, index: int | None
    ) -> Outgoing:
        """The bounded ``invalid_event.v1`` copy of a record (value, key, headers and reason capped)."""
        key = record.key[:MAX_INVALID_KEY_BYTES] if record.key is not None else None
        message = invalid_event(
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=key,
            value=record.value,
            headers=headers,
            reason=reason,
            entry_index=index,
            received_at=self.clock(),
            sealer=self.sealer,
            max_value_bytes=MAX_INVALID_VALUE_BYTES,
        )
        logger.info(
            "invalid input",
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "reason": reason,
            },
        )
        return Outgoing(
            self.topics.invalid_events,
            key,
            message.to_bytes(),
            [("message-type", b"invalid_event.v1")],
        )
