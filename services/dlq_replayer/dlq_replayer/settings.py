"""Settings of the DLQ replayer (HTTP service and ``dlq`` CLI share them)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from admin_auth.tokens import check_admin_token
from service_kit.settings import CommonSettings
from service_kit.settings_fields import (
    DatabaseSettings,
    ReadyTimeoutSettings,
    ServerSettings,
    port_field,
)


class DlqReplayerSettings(ServerSettings, DatabaseSettings, ReadyTimeoutSettings, CommonSettings):
    """Shared names (DATABASE_URL, ADMIN_TOKEN, KAFKA_*, TOPIC_PREFIX) plus ``DLQ_REPLAYER_*``."""

    model_config = SettingsConfigDict(
        env_prefix="DLQ_REPLAYER_",
        env_ignore_empty=True,
        extra="ignore",
        env_nested_delimiter="__",
        populate_by_name=True,
    )

    port: int = port_field(8083)
    default_rate: float = Field(default=50.0, gt=0, le=10_000, description="Replay messages per second.")
    scan_timeout_s: float = Field(default=120.0, gt=0, description="Give up a DLQ scan after this long.")
    max_consecutive_send_failures: int = Field(
        default=3, ge=1, description="A replay stops (resumable) after this many sends failing in a row."
    )
    announce_interval_s: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="How often unannounced replay ends (dlq.replay.completed) are looked for, besides each run's end.",
    )

    @field_validator("admin_token")
    @classmethod
    def _admin_token_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_admin_token(value.get_secret_value())
        return value
