"""Messages about integration events: invalid inputs, ops events (``webhooks.ops``), the patient index."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from contracts.base import AwareDatetime, ContractModel


class InvalidEventV1(ContractModel):
    """An input that could not be parsed (``integrations.events.invalid``)."""

    type: Literal["invalid_event.v1"] = "invalid_event.v1"
    source_topic: str
    partition: int
    offset: int
    key_b64: str | None = None
    value_b64: str | None = Field(
        default=None, description="The original bytes (capped), base64; absent when `value_encrypted` is set."
    )
    value_encrypted: str | None = Field(
        default=None,
        description="The original bytes (capped), base64 then encrypted (AES-256-GCM, associated data "
        "`invalid:<source_topic>:<partition>:<offset>`) when KAFKA_PAYLOAD_ENCRYPTION is on.",
    )
    headers: dict[str, str] = Field(default_factory=dict)
    reason: str
    entry_index: int | None = Field(default=None, description="Index of the broken entry in a bundle.")
    received_at: AwareDatetime

    @model_validator(mode="after")
    def _one_value(self) -> InvalidEventV1:
        if (self.value_b64 is None) == (self.value_encrypted is None):
            raise ValueError("exactly one of value_b64 and value_encrypted is required")
        return self

    @model_serializer(mode="wrap")
    def _without_absent_value(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name in ("value_b64", "value_encrypted"):
            if data.get(name) is None:
                data.pop(name, None)
        return data


class WebhookDeactivatedV1(ContractModel):
    """A webhook was deactivated automatically (``webhooks.ops``)."""

    type: Literal["webhook_deactivated.v1"] = "webhook_deactivated.v1"
    webhook_id: str
    integration_id: str
    reason: str
    deactivated_at: AwareDatetime


class WebhookHealthChangedV1(ContractModel):
    """A webhook started failing or recovered (``webhooks.ops``, key = webhook id)."""

    type: Literal["webhook_health_changed.v1"] = "webhook_health_changed.v1"
    webhook_id: str
    integration_id: str
    state: Literal["failing", "recovered"]
    consecutive_failures: int = Field(description="Deliveries in a row that failed for good (0 on recovery).")
    last_error: str | None = Field(default=None, description="The last error (no payload data).")
    last_status_code: int | None = None
    success_rate: float | None = Field(
        default=None,
        description="Recent success rate of finished deliveries, 0..1 (exponentially weighted; when failing).",
    )
    changed_at: AwareDatetime


class DeliveryDeadLetteredV1(ContractModel):
    """A delivery was dead-lettered (``webhooks.ops``, key = webhook id); ids and reason, never the body."""

    type: Literal["delivery_dead_lettered.v1"] = "delivery_dead_lettered.v1"
    delivery_id: str
    webhook_id: str
    integration_id: str
    event_id: str
    event_type: str
    attempts: int = Field(description="Attempts made (0 when the job ended without one).")
    reason: str
    final_error_category: str | None = None
    final_status_code: int | None = None
    dead_lettered_at: AwareDatetime


class DlqReplayCompletedV1(ContractModel):
    """A DLQ replay ended (``webhooks.ops``, key = replay id): its outcome and counts, never a payload.

    Written once per run that ends ``completed`` or ``failed`` (a resumed replay that ends again is
    announced again, with its new ``finished_at``); an interrupted run is not an end (resume it).
    """

    type: Literal["dlq_replay_completed.v1"] = "dlq_replay_completed.v1"
    replay_id: str
    dlq_topic: str
    status: Literal["completed", "failed"]
    requested_by: str
    integration_ids: list[str] = Field(description="The integrations the replay touched (its scope).")
    selected: int = Field(description="DLQ records the replay selected.")
    replayed: int = Field(description="Records republished and acknowledged by the broker.")
    failed: int = Field(description="Records that could not be republished.")
    skipped: int = Field(description="Records skipped (webhook deleted or inactive, already replayed).")
    runs: int = Field(description="Runs it took (1 + resumes).")
    error: str | None = Field(default=None, description="Why it failed (no payload data).")
    started_at: AwareDatetime
    finished_at: AwareDatetime


class PatientIndexEntryV1(ContractModel):
    """Maps a normalised email or E.164 phone to a FHIR Patient (key = ``email:<x>`` / ``phone:<x>``)."""

    type: Literal["patient_index_entry.v1"] = "patient_index_entry.v1"
    contact_key: str
    patient_reference: str
    updated_at: AwareDatetime
