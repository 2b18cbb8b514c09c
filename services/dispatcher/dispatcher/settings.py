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

    @model_validator(mode="after")
    def _heartbeat(self) -> DispatcherSettings:
        if self.heartbeat_interval_ms * 3 > self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be at most a third of session_timeout_ms")
        return self

    @field_validator("phone_region")
    @classmethod
    def _region(cls, value: str) -> str:
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region phonenumbers knows (e.g. US, GB, DE)")
        return region
