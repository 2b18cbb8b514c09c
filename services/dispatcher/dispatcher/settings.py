"""Dispatcher settings (shared names from CommonSettings, service-only ones prefixed ``DISPATCHER_``)."""

from __future__ import annotations

import phonenumbers
from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from service_kit.settings import CommonSettings


class DispatcherSettings(CommonSettings):
    """Everything the dispatcher reads from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="DISPATCHER_",
        env_ignore_empty=True,
        extra="ignore",
        env_nested_delimiter="__",
        populate_by_name=True,
    )

    host: str = "127.0.0.1"
    port: int = Field(
        default=9101, ge=0, le=65535, description="Ops server (/healthz /readyz /metrics); 0 = any."
    )
    group_id: str = Field(
        default="dispatcher", min_length=1, description="Consumer group shared by all instances."
    )
    phone_region: str = Field(
        default="US", description="Region of phone numbers written without a country code."
    )
    max_batch: int = Field(default=500, ge=1, le=10_000, description="Records per poll.")
    session_timeout_ms: int = Field(
        default=10_000,
        ge=1000,
        le=300_000,
        description="Group session timeout; the embedded broker waits half of it per join.",
    )
    heartbeat_interval_ms: int = Field(
        default=3000, ge=100, le=60_000, description="Below a third of the session timeout."
    )
    ready_timeout_s: float = Field(
        default=120.0, gt=0, description="How long to wait for the config view at start."
    )
    max_job_bytes: int = Field(
        default=3_500_000,
        ge=10_000,
        le=4 * 1024 * 1024 - 65_536,
        description=(
            "Largest delivery job published; keep it below max.message.bytes of the deliveries topics "
            "(and the producer's 4 MiB request limit). A bigger job is not produced: the event goes to "
            "the invalid topic with reason too_large."
        ),
    )
    max_input_bytes: int = Field(
        default=1_000_000,
        ge=1_000,
        description=(
            "Largest input record (value) processed; a bigger one goes to the invalid topic with reason "
            "too_large. Must be below max_job_bytes (a job carries the event plus its envelope)."
        ),
    )
    filter_budget_steps: int = Field(
        default=4_000,
        ge=100,
        le=1_000_000,
        description=(
            "Steps one webhook filter may spend on one event (values visited and tested); a filter that "
            "runs out does not match that event and filter_budget_exceeded_total grows."
        ),
    )
    handler_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Times a record whose handling raises unexpectedly is tried before it goes to the invalid topic.",
    )

    @model_validator(mode="after")
    def _heartbeat(self) -> DispatcherSettings:
        if self.heartbeat_interval_ms * 3 > self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be at most a third of session_timeout_ms")
        if self.max_input_bytes >= self.max_job_bytes:
            raise ValueError("max_input_bytes must be below max_job_bytes")
        return self

    @field_validator("phone_region")
    @classmethod
    def _region(cls, value: str) -> str:
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region phonenumbers knows (e.g. US, GB, DE)")
        return region
