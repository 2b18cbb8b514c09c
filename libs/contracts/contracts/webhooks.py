"""Webhook configuration as published on ``webhooks.config`` (key = webhook id, compacted).

Secrets travel encrypted (AES-GCM with ``WEBHOOK_SECRETS_KEY``, see ``webhook_core.secrets_crypto``);
a deleted webhook is a tombstone (null value) on its key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import AwareDatetime, ContractModel

Priority = Literal["normal", "high"]
AuthType = Literal["none", "basic", "bearer", "header"]

PRIORITY_RULES_KEY_PREFIX = "priority-rules/"


class RetryPolicy(BaseModel):
    """Exponential backoff policy of one webhook."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=8, ge=1, le=25, description="Attempts before dead-lettering.")
    initial_delay_ms: int = Field(default=5000, ge=0, le=86_400_000, description="Delay before attempt 2.")
    multiplier: float = Field(default=5.0, ge=1.0, le=20.0, description="Growth factor per attempt.")
    max_delay_ms: int = Field(default=36_000_000, ge=0, le=604_800_000, description="Cap on any one delay.")
    jitter: float = Field(default=0.2, ge=0.0, le=1.0, description="Relative ± jitter applied to each delay.")


class SigningSecret(BaseModel):
    """One signing secret, encrypted; ``expires_at`` is set on the old secret during a rotation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    encrypted: str
    expires_at: AwareDatetime | None = None


class WebhookConfigV1(ContractModel):
    """The full, current configuration of one webhook."""

    type: Literal["webhook_config.v1"] = "webhook_config.v1"
    id: str
    integration_id: str
    integration_type: Literal["surveymonkey", "fhir", "custom"]
    name: str
    subscription_url: str
    event_types: list[str]
    object_types: list[str] | None = None
    object_ids: list[str] | None = None
    filter: dict[str, Any] | None = Field(default=None, description="Predicate in the filter language.")
    criteria: str | None = Field(default=None, description="FHIR search-style criteria (FHIR only).")
    priority: Priority = "normal"
    auth_type: AuthType = "none"
    auth_encrypted: str | None = Field(default=None, description="Encrypted JSON of the auth object.")
    signing_secrets: list[SigningSecret] = Field(default_factory=list)
    retry_policy: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout_ms: int = 15000
    max_in_flight: int = 10
    rate_limit_per_s: float | None = None
    active: bool = True
    deactivated_reason: str | None = None
    version: int = Field(default=1, description="Monotonic per webhook; consumers ignore older versions.")
    updated_at: AwareDatetime


class ContactRule(BaseModel):
    """Contact custom field ``field`` (\"1\"..\"6\") equals ``equals`` (case-insensitive)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: Annotated[str, Field(pattern=r"^[1-6]$")]
    equals: str


class PriorityRulesV1(ContractModel):
    """Priority-contact rules of one integration (key ``priority-rules/<integration_id>``)."""

    type: Literal["priority_rules.v1"] = "priority_rules.v1"
    integration_id: str
    custom_field_rules: list[ContactRule] = Field(default_factory=list)
    contact_ids: list[str] = Field(default_factory=list)
    contact_list_ids: list[str] = Field(default_factory=list)
    event_types: list[str] = Field(default_factory=list)
    updated_at: AwareDatetime


ConfigRecord = Annotated[WebhookConfigV1 | PriorityRulesV1, Field(discriminator="type")]


def priority_rules_key(integration_id: str) -> str:
    """Kafka key of an integration's priority rules on ``webhooks.config``."""
    return f"{PRIORITY_RULES_KEY_PREFIX}{integration_id}"


class NoAuth(BaseModel):
    """No auth header."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["none"] = "none"


class BasicAuth(BaseModel):
    """HTTP Basic auth."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["basic"] = "basic"
    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=1024)


class BearerAuth(BaseModel):
    """``Authorization: Bearer <token>``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["bearer"] = "bearer"
    token: str = Field(min_length=1, max_length=4096)


class HeaderAuth(BaseModel):
    """A custom header carrying a credential."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["header"] = "header"
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
    value: str = Field(min_length=1, max_length=4096)


AuthConfig = Annotated[NoAuth | BasicAuth | BearerAuth | HeaderAuth, Field(discriminator="type")]
"""The plaintext auth object (only ever held in memory; encrypted everywhere else)."""
