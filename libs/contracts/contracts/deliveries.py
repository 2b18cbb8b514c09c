"""Delivery jobs, attempt results and dead letters."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from contracts.base import AwareDatetime, ContractModel
from contracts.webhooks import Priority

Outcome = Literal["succeeded", "failed", "retrying", "dead_lettered", "cancelled"]
ErrorCategory = Literal[
    "timeout",
    "connection_error",
    "dns_error",
    "tls_error",
    "ssrf_blocked",
    "http_4xx",
    "http_429",
    "http_5xx",
    "redirect",
    "invalid_config",
    "circuit_open",
    "cancelled",
    "handler_error",
    "record_too_large",
]
CircuitState = Literal["closed", "open", "half_open"]


def payload_context(delivery_id: str) -> str:
    """Associated data of an encrypted job body (on every topic, and in results): binds the
    ciphertext to its delivery, so a body cannot be moved to another job."""
    return f"delivery:{delivery_id}"


class AttemptSummary(BaseModel):
    """What one attempt did (kept on the job so a dead letter carries the whole history)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempt: int
    attempted_at: AwareDatetime
    outcome: Outcome
    status_code: int | None = None
    error_category: ErrorCategory | None = None
    error: str | None = None
    response_ms: int | None = None


class ReplayInfo(BaseModel):
    """Marks a job republished by an operator (DLQ replay or manual retry)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    replay_id: str
    requested_by: str
    kind: Literal["dlq_replay", "manual_retry", "recovery"] = "dlq_replay"


class DeliveryJobV1(ContractModel):
    """One event to deliver to one webhook (key = webhook id)."""

    type: Literal["delivery_job.v1"] = "delivery_job.v1"
    delivery_id: str = Field(description="Deterministic from event id + webhook id; the `webhook-id` header.")
    webhook_id: str
    integration_id: str
    event_id: str
    event_type: str
    object_type: str | None = None
    object_id: str | None = None
    event_time: AwareDatetime
    dispatched_at: AwareDatetime
    priority: Priority = "normal"
    body: str | None = Field(
        default=None,
        description="The exact JSON text to POST (signed byte for byte); absent when `body_encrypted` is set.",
    )
    body_encrypted: str | None = Field(
        default=None,
        description="The body encrypted (AES-256-GCM, the secrets key scheme, associated data "
        "`delivery:<delivery_id>`) when KAFKA_PAYLOAD_ENCRYPTION is on; absent otherwise.",
    )
    attempt: int = Field(default=1, ge=1, description="Number of the next attempt to make.")
    not_before: AwareDatetime | None = Field(default=None, description="Earliest time of the next attempt.")
    attempts: list[AttemptSummary] = Field(default_factory=list)
    quality_flags: list[str] = Field(default_factory=list, description="e.g. invalid_email, invalid_phone.")
    replay: ReplayInfo | None = None
    published_at: AwareDatetime | None = Field(
        default=None, description="When the source event was published."
    )

    @model_validator(mode="after")
    def _one_body(self) -> DeliveryJobV1:
        if (self.body is None) == (self.body_encrypted is None):
            raise ValueError("exactly one of body and body_encrypted is required")
        return self

    @model_serializer(mode="wrap")
    def _without_absent_body(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A job opened in memory holds both; the ciphertext wins so the plaintext never travels.
        data: dict[str, Any] = handler(self)
        if self.body_encrypted is not None or self.body is None:
            data.pop("body", None)
        if self.body_encrypted is None:
            data.pop("body_encrypted", None)
        return data

    @property
    def body_text(self) -> str:
        """The plaintext body; raises :class:`SealedBodyError` on a job not opened yet."""
        if self.body is None:
            raise SealedBodyError(f"delivery {self.delivery_id}: body is encrypted and was not opened")
        return self.body


class SealedBodyError(ValueError):
    """The plaintext body of an encrypted job was asked for before the job was opened."""


class DeliveryResultV1(ContractModel):
    """One attempt, cancel or dead-letter (key = webhook id)."""

    type: Literal["delivery_result.v1"] = "delivery_result.v1"
    delivery_id: str
    webhook_id: str
    integration_id: str
    event_id: str
    event_type: str
    object_type: str | None = None
    object_id: str | None = Field(
        default=None, description="The job's object id (searchable in the config API)."
    )
    attempt: int
    outcome: Outcome
    status_code: int | None = None
    error_category: ErrorCategory | None = None
    error_message: str | None = None
    response_ms: int | None = None
    response_body_excerpt: str | None = Field(default=None, description="First 1 KB of the response body.")
    attempted_at: AwareDatetime
    next_attempt_at: AwareDatetime | None = None
    circuit_state: CircuitState = "closed"
    gone: bool = Field(default=False, description="The endpoint answered 410 Gone: deactivate the webhook.")
    payload_encrypted: str | None = Field(
        default=None, description="Encrypted job body, kept by the config API for manual retries."
    )
    payload_sha256: str | None = Field(
        default=None,
        description="SHA-256 (hex) of the job body when the body was too large to carry in the result.",
    )
    replay_id: str | None = None


class DeadLetterV1(ContractModel):
    """A job that failed for good (``webhooks.deliveries.dlq``, key = webhook id)."""

    type: Literal["dead_letter.v1"] = "dead_letter.v1"
    job: DeliveryJobV1
    reason: str
    final_error_category: ErrorCategory | None = None
    final_status_code: int | None = None
    dead_lettered_at: AwareDatetime
    original_headers: dict[str, str] = Field(default_factory=dict)
