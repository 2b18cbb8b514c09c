"""Settings fields several services share, declared once so they are named and checked the same.

Mixed into a service's settings class next to :class:`service_kit.settings.CommonSettings`; the
service's ``env_prefix`` applies (``DISPATCHER_PORT``, ``DELIVERY_WORKER_GROUP_ID``, ...) except for
the fields with an explicit alias (``DATABASE_URL``, ``ADMIN_TOKEN``, ``MIGRATE_ON_START``).
"""

from __future__ import annotations

from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator


def port_field(default: int) -> Any:
    """The ``PORT`` field of a service (its own default; 0 = any free port)."""
    return Field(
        default=default, ge=0, le=65535, description="HTTP port (ops endpoints, and the API if any); 0 = any."
    )


def group_id_field(default: str) -> Any:
    """The ``GROUP_ID`` field of a consuming service."""
    return Field(default=default, min_length=1, description="Kafka consumer group shared by all instances.")


class ServerSettings(BaseModel):
    """``<PREFIX>HOST`` of the HTTP server; each service declares ``port: int = port_field(N)``."""

    host: str = Field(default="127.0.0.1", description="Address of the HTTP server.")


class ConsumerGroupSettings(BaseModel):
    """``<PREFIX>SESSION_TIMEOUT_MS`` and ``<PREFIX>HEARTBEAT_INTERVAL_MS`` of a group consumer."""

    session_timeout_ms: int = Field(
        default=10_000,
        ge=1000,
        le=300_000,
        description="Group session timeout; the embedded broker waits half of it per join.",
    )
    heartbeat_interval_ms: int = Field(
        default=1000, ge=100, le=60_000, description="At most a third of the session timeout."
    )

    @model_validator(mode="after")
    def _heartbeat(self) -> Self:
        if self.heartbeat_interval_ms * 3 > self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be at most a third of session_timeout_ms")
        return self


class ReadyTimeoutSettings(BaseModel):
    """``<PREFIX>READY_TIMEOUT_S``: how long start-up waits for the config view to catch up.

    ``<PREFIX>CONFIG_READY_TIMEOUT_S``, the older name of the worker and the DLQ replayer, is still read.
    """

    ready_timeout_s: float = Field(
        default=120.0, gt=0, le=3600, description="How long to wait for the config view at start."
    )
    config_ready_timeout_s: float | None = Field(
        default=None, gt=0, le=3600, exclude=True, description="Older name of READY_TIMEOUT_S, still read."
    )

    @model_validator(mode="after")
    def _legacy_name(self) -> Self:
        if self.config_ready_timeout_s is not None and "ready_timeout_s" not in self.model_fields_set:
            self.ready_timeout_s = self.config_ready_timeout_s
        return self


def validate_postgres_dsn(value: str) -> str:
    """A ``postgresql://`` DSN with a host (ValueError naming what is wrong)."""
    parts = urlsplit(value.strip())
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ValueError("must be a PostgreSQL DSN such as postgresql://user:pass@host:5432/db")
    if not parts.hostname and "host=" not in parts.query:
        raise ValueError("PostgreSQL DSN has no host")
    return value.strip()


class DatabaseSettings(BaseModel):
    """``DATABASE_URL``, ``ADMIN_TOKEN`` and ``MIGRATE_ON_START`` of the services that own PostgreSQL state."""

    database_url: str = Field(
        validation_alias=AliasChoices("DATABASE_URL", "database_url"),
        description="postgresql://user:pass@host:port/db",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("ADMIN_TOKEN", "admin_token"),
        description="Bootstrap admin bearer token (never stored; at least 32 characters).",
    )
    migrate_on_start: bool = Field(
        default=True,
        validation_alias=AliasChoices("MIGRATE_ON_START", "migrate_on_start"),
        description="Apply the schema migrations at start (false: run the `migrate` command as a Job first).",
    )

    @field_validator("database_url")
    @classmethod
    def _postgres_dsn(cls, value: str) -> str:
        return validate_postgres_dsn(value)

    @property
    def admin_token_value(self) -> str | None:
        """The bootstrap admin token in plain text, or None."""
        return self.admin_token.get_secret_value() if self.admin_token else None
