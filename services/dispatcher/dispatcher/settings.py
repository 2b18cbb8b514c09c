"""Dispatcher settings (shared names from CommonSettings, service-only ones prefixed ``DISPATCHER_``)."""

from __future__ import annotations

import phonenumbers
from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from service_kit.settings import CommonSettings
from service_kit.settings_fields import (
    ConsumerGroupSettings,
    ReadyTimeoutSettings,
    ServerSettings,
    group_id_field,
    port_field,
)


class DispatcherSettings(ServerSettings, ConsumerGroupSettings, ReadyTimeoutSettings, CommonSettings):
    """Everything the dispatcher reads from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="DISPATCHER_",
        env_ignore_empty=True,
        extra="ignore",
        env_nested_delimiter="__",
        populate_by_name=True,
    )

    port: int = port_field(9101)
    group_id: str = group_id_field("dispatcher")
    phone_region: str = Field(
        default="US", description="Region of phone numbers written without a country code."
    )
    max_batch: int = Field(default=500, ge=1, le=10_000, description="Records per poll.")
    commit_interval_ms: int = Field(
        default=200,
        ge=0,
        le=60_000,
        description=(
            "Shortest time between two offset commits; batches acknowledged in between are committed "
            "together (0: one commit per acknowledged batch). A restart re-reads at most this long of "
            "acknowledged events (duplicates, never loss)."
        ),
    )
    pipeline_depth: int = Field(
        default=4,
        ge=1,
        le=64,
        description=(
            "Polled batches whose jobs may await the broker's acknowledgement at once; each batch's offsets "
            "are committed in poll order after all its jobs were acknowledged (1: one batch at a time)."
        ),
    )
    ship_every_ms: float = Field(
        default=2.0,
        ge=0,
        le=1_000,
        description=(
            "While a polled batch is processed, hand the jobs made so far to the producer and let it send "
            "them after this much processing, instead of once at the end of the batch (0: at the end)."
        ),
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
    def _sizes(self) -> DispatcherSettings:
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
