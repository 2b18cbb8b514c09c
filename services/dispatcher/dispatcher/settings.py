"""Dispatcher settings (shared names from CommonSettings, service-only ones prefixed ``DISPATCHER_``)."""

from __future__ import annotations

import phonenumbers
from pydantic import Field, field_validator
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

    @field_validator("phone_region")
    @classmethod
    def _region(cls, value: str) -> str:
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region phonenumbers knows (e.g. US, GB, DE)")
        return region
