"""The records a job ends with (result, retry hop, dead letter, invalid record), bounded in size.

:meth:`JobRecords.end` turns a :mod:`~delivery_worker.decision` into records: the result, plus the
retry hop or the dead letter. Every record stays below ``max_record_bytes``: a body too large to
travel encrypted in a result travels as its SHA-256; a retry hop or dead letter that cannot be
bounded (the body alone is too large) ends the job with a ``record_too_large`` result instead. Every
dead letter is also announced on ``webhooks.ops`` (``delivery_dead_lettered.v1``, ids and reason only)
for operational webhooks, except those of the operational webhooks themselves (no loops).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any, TypeAlias

from aiokafka.structs import ConsumerRecord
from pydantic import ValidationError

from contracts.base import utcnow
from contracts.deliveries import (
    AttemptSummary,
    CircuitState,
    DeliveryJobV1,
    ErrorCategory,
    Outcome,
    payload_context,
)
from contracts.headers import HeaderValue
from contracts.records import invalid_event
from contracts.topics import Topics
from delivery_worker.decision import DeadLetter, Decision, RetryAt, Succeeded, record_too_large
from delivery_worker.metrics import WorkerMetrics
from delivery_worker.outbox import Publication
from delivery_worker.plan import (
    RecordTooLargeError,
    body_sha256,
    dead_letter_notice,
    dead_letter_publication,
    result_for,
    result_publication,
    retry_publication,
    with_attempt,
)
from service_kit.tracing import inject_headers
from webhook_core.payload_crypto import PayloadDecryptionError, Payloads
from webhook_core.sending import SendResult

logger = logging.getLogger(__name__)

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
RecordHeaders = Sequence[tuple[str, HeaderValue]]
_ENCRYPTION_OVERHEAD = 1.4
"""Encrypted + base64 size over plaintext size (with room): a body above the budget is not encrypted."""
_RESULT_ROOM = 8192
"""Room in a result for everything but the encrypted body (excerpt 1 KB, error, ids)."""


class JobRecords:
    """Builds the records of one worker (its topics, key, and record limit)."""

    def __init__(
        self,
        topics: Topics,
        payloads: Payloads,
        metrics: WorkerMetrics,
        max_record_bytes: int,
        *,
        traced: bool = True,
    ) -> None:
        self.topics = topics
        self.traced = traced
        self.payloads = payloads
        self.metrics = metrics
        self.max_record_bytes = max_record_bytes

    def end(
        self,
        job: DeliveryJobV1,
        headers: RecordHeaders,
        decision: Decision,
        sent: SendResult | None,
        attempted_at: datetime,
        state: CircuitState,
        now: datetime | None = None,
    ) -> list[Publication]:
        """The records of a decision (made at ``now``, default the current time): the result, plus
        the retry hop or the dead letter."""
        topics, max_bytes, now = self.topics, self.max_record_bytes, now or utcnow()

        def result_record(
            outcome: Outcome, next_at: datetime | None = None, end: DeadLetter | None = None
        ) -> Publication:
            category = _category(end, sent)
            message = sent.error if sent is not None else None
            if end is not None and category == end.reason:
                message = end.text
            return self.result(
                job,
                result_for(
                    job,
                    outcome,
                    attempted_at,
                    status_code=sent.status_code if sent is not None else None,
                    error_category=category,
                    error_message=message,
                    response_ms=sent.response_ms if sent is not None else None,
                    response_body=sent.response_body if sent is not None else None,
                    next_attempt_at=next_at,
                    circuit_state=state,
                    gone=sent.classification.gone if sent is not None else False,
                ),
            )

        if isinstance(decision, Succeeded):
            return [result_record("succeeded")]
        final = job
        if sent is not None:
            summary = AttemptSummary(
                attempt=job.attempt,
                attempted_at=attempted_at,
                outcome="failed",
                status_code=sent.status_code,
                error_category=sent.error_category,
                error=sent.error,
                response_ms=sent.response_ms,
            )
            final = with_attempt(job, summary, decision.at if isinstance(decision, RetryAt) else None)
        if isinstance(decision, RetryAt):
            try:
                hop, tier = retry_publication(topics, final, headers, now, self.payloads, max_bytes)
            except RecordTooLargeError as exc:
                decision = self._too_large(job, "retry hop", exc)
            else:
                self.metrics.child(self.metrics.retries, str(tier)).inc()
                hop = replace(hop, fallback=partial(self._refused, job, "retry hop"))
                return [hop, result_record("retrying", decision.at)]
        try:
            letter = dead_letter_publication(
                topics, self.payloads.seal(final), decision.text, _category(decision, sent),
                sent.status_code if sent is not None else None, headers, now, max_bytes,
            )  # fmt: skip
        except RecordTooLargeError as exc:
            end = self._too_large(job, "dead letter", exc)
            return [result_record("dead_lettered", end=end), *self._notice(final, end, sent, now)]
        letter = replace(letter, fallback=partial(self._refused, job, "dead letter"))
        return [
            letter,
            result_record("dead_lettered", end=decision),
            *self._notice(final, decision, sent, now),
        ]

    def _notice(
        self, job: DeliveryJobV1, end: DeadLetter, sent: SendResult | None, now: datetime
    ) -> list[Publication]:
        """The dead letter announced on ``webhooks.ops`` (none for an operational webhook's own job)."""
        status = sent.status_code if sent is not None else None
        notice = dead_letter_notice(self.topics, job, end.text, _category(end, sent), status, now)
        return [notice] if notice is not None else []

    def _too_large(self, job: DeliveryJobV1, what: str, exc: RecordTooLargeError) -> DeadLetter:
        decision = record_too_large(what, str(exc))
        self.metrics.child(self.metrics.dead_lettered, job.integration_id, decision.reason).inc()
        logger.warning("record too large, job ended", extra={"delivery_id": job.delivery_id, "record": what})
        return decision

    def result(self, job: DeliveryJobV1, res: dict[str, Any]) -> Publication:
        """The result record of ``res`` (from :func:`~delivery_worker.plan.result_for`), with the
        encrypted body, or its SHA-256 when the body is too large to travel in a result."""
        body = job.body_text
        if len(body) * _ENCRYPTION_OVERHEAD < self.max_record_bytes - _RESULT_ROOM:
            res["payload_encrypted"] = self._encrypt_payload(job)
        else:
            res["payload_sha256"] = body_sha256(body)
        fallback = partial(self._lean_result, res, body)
        publication = result_publication(self.topics, res, body, self.max_record_bytes, fallback)
        # Within an attempt span the result carries its traceparent, so the results ingest can link to it.
        trace_headers = inject_headers() if self.traced else None
        return replace(publication, headers=trace_headers) if trace_headers else publication

    def _lean_result(self, res: dict[str, Any], body: str) -> Publication:
        """The result without the encrypted body (its hash instead), excerpt or long message."""
        message = res["error_message"]
        lean = {
            **res,
            "payload_encrypted": None,
            "payload_sha256": body_sha256(body),
            "response_body_excerpt": None,
            "error_message": message[:200] if message else None,
        }
        return result_publication(self.topics, lean)

    def _refused(self, job: DeliveryJobV1, what: str) -> Publication:
        """The result of a job whose retry hop or dead letter the broker refused as too large."""
        end = record_too_large(what, "refused by the broker")
        res = result_for(
            job, "dead_lettered", utcnow(), error_category="record_too_large", error_message=end.text
        )
        return self._lean_result(res, job.body_text)

    def hop(self, job: DeliveryJobV1, headers: RecordHeaders, now: datetime) -> list[Publication]:
        """The job on its retry tier unchanged (not due yet, parked or deferred)."""
        try:
            hop, tier = retry_publication(
                self.topics, job, headers, now, self.payloads, self.max_record_bytes
            )
        except RecordTooLargeError as exc:
            end = self._too_large(job, "retry hop", exc)
            return [
                self.result(
                    job,
                    result_for(
                        job, "dead_lettered", now, error_category="record_too_large", error_message=end.text
                    ),
                )
            ]
        self.metrics.child(self.metrics.retries, str(tier)).inc()
        return [replace(hop, fallback=partial(self._refused, job, "retry hop"))]

    def job_of(self, record: Record) -> DeliveryJobV1 | Publication:
        """The record's job, opened (plaintext body); its invalid record when it is not a usable job."""
        try:
            return self.payloads.open(DeliveryJobV1.model_validate_json(record.value or b""))
        except ValidationError as exc:
            # The reason names fields and problems only: pydantic's default text would echo input values (PHI).
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}"
                for err in exc.errors(include_input=False)[:5]
            )
            return self.invalid(record, f"not a delivery_job.v1: {problems}")
        except PayloadDecryptionError as exc:
            return self.invalid(record, f"delivery_job.v1 unusable: {exc}")

    def invalid(self, record: Record, reason: str) -> Publication:
        """The invalid record of a record that is not a usable job (``reason`` names no values)."""
        self.metrics.invalid_jobs.inc()
        logger.warning("not a usable delivery job", extra={"topic": record.topic, "offset": record.offset})
        invalid = invalid_event(
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=record.headers,
            reason=reason,
            received_at=utcnow(),
            sealer=self.payloads,
            max_value_bytes=self.max_record_bytes // 2,
        )
        key = record.key.decode("utf-8", errors="replace") if record.key else ""
        return Publication(self.topics.invalid_events, key, invalid.to_bytes())

    def _encrypt_payload(self, job: DeliveryJobV1) -> str:
        # The job's own ciphertext has the results' format and context: reuse it, don't encrypt again.
        if job.body_encrypted is not None:
            return job.body_encrypted
        return self.payloads.box.encrypt(job.body_text, payload_context(job.delivery_id))


def _category(end: DeadLetter | None, sent: SendResult | None) -> ErrorCategory | None:
    """The category a result or dead letter reports: the worker's own failure, else the attempt's."""
    if end is not None and end.reason == "handler_error":
        return "handler_error"
    if end is not None and end.reason == "record_too_large":
        return "record_too_large"
    return sent.error_category if sent is not None else None
