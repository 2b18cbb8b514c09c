"""Settings of the config API (service-only names carry the ``CONFIG_API_`` prefix)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from admin_auth.throttle import DEFAULT_BLOCK_S, DEFAULT_MAX_FAILURES, DEFAULT_WINDOW_S
from admin_auth.tokens import check_admin_token
from service_kit.settings import CommonSettings
from service_kit.settings_fields import DatabaseSettings, ServerSettings, port_field


class ConfigApiSettings(ServerSettings, DatabaseSettings, CommonSettings):
    """Everything the config API reads from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="CONFIG_API_",
        env_ignore_empty=True,
        extra="ignore",
        env_nested_delimiter="__",
        populate_by_name=True,
    )

    port: int = port_field(8080)
    auto_disable_after_failures: int = Field(default=10, ge=1, description="Consecutive dead letters.")
    failing_after_failures: int = Field(
        default=3,
        ge=1,
        description="Consecutive failed deliveries before webhook.failing (operational webhooks).",
    )
    failing_below_success_rate: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Recent success rate under which a webhook is failing (webhook.failing; 0 turns it off).",
    )
    failing_rate_window: int = Field(
        default=20,
        ge=1,
        le=10_000,
        description="Finished deliveries the recent success rate spans (and needs before it counts).",
    )
    auto_disable_after_s: float = Field(default=5 * 24 * 3600, gt=0, description="Failing without success.")
    delivery_log_retention_days: int = Field(
        default=30,
        ge=1,
        validation_alias=AliasChoices("DELIVERY_LOG_RETENTION_DAYS", "delivery_log_retention_days"),
    )
    outbox_poll_interval_s: float = Field(default=1.0, gt=0, le=60, description="Fallback outbox poll.")
    outbox_send_timeout_s: float = Field(default=10.0, gt=0, le=120, description="One publish attempt.")
    outbox_retry_max_s: float = Field(default=5.0, gt=0, le=300, description="Cap of the relay's backoff.")
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, description="Larger request bodies get 413.")
    db_connect_timeout_s: float = Field(default=60.0, gt=0, description="Keep retrying PostgreSQL this long.")
    pool_min_size: int = Field(default=1, ge=0)
    pool_max_size: int = Field(default=10, ge=1)
    test_delivery_timeout_s: float = Field(default=15.0, gt=0, le=60)
    delivery_maintenance_interval_s: float = Field(
        default=60.0, gt=0, le=3600, description="How often auto-deactivation checks run (part B)."
    )
    recovery_rate_per_s: float = Field(
        default=20.0, ge=0.1, le=1000, description="Default pace of a bulk recovery (deliveries per second)."
    )
    delivery_retention_interval_s: float = Field(
        default=3600.0, gt=0, le=86400, description="How often old delivery logs are purged (part B)."
    )

    auth_max_failures: int = Field(
        default=DEFAULT_MAX_FAILURES, ge=1, description="Failed authentications per client before 429."
    )
    auth_failure_window_s: float = Field(
        default=DEFAULT_WINDOW_S, gt=0, description="Window of those failures."
    )
    auth_block_s: float = Field(default=DEFAULT_BLOCK_S, gt=0, description="How long a client then gets 429.")

    @field_validator("admin_token")
    @classmethod
    def _admin_token_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_admin_token(value.get_secret_value())
        return value
