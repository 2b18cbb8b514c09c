"""Request and response bodies of the admin API (``<Thing>Create/Update/Patch/Public``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.catalogs import IntegrationType
from contracts.webhooks import AuthConfig, ContactRule, NoAuth, Priority, RetryPolicy

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="Lower-case slug.")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
ObjectId = Annotated[str, Field(min_length=1, max_length=256)]
Description = Annotated[
    str, Field(max_length=2000, description="Free text: what the webhook is for, who owns it.")
]

_STRICT = ConfigDict(extra="forbid")

_WEBHOOK_EXAMPLE: dict[str, Any] = {
    "name": "Completed responses to the CRM",
    "description": "Feeds the CRM's survey inbox; owner: patient-experience team.",
    "subscription_url": "https://hooks.example.com/surveymonkey",
    "event_types": ["response_completed"],
    "object_types": ["survey"],
    "object_ids": ["405123456"],
    "priority": "normal",
    "auth": {"type": "bearer", "token": "s3cr3t-token"},
    "retry_policy": {
        "max_attempts": 8,
        "initial_delay_ms": 5000,
        "multiplier": 5,
        "max_delay_ms": 36000000,
        "jitter": 0.2,
    },
    "timeout_ms": 15000,
    "max_in_flight": 10,
}


class CatalogItem(BaseModel):
    """One event type or object type."""

    name: str
    description: str


CatalogName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]


class CatalogItemIn(BaseModel):
    """An event type or object type of a custom integration."""

    model_config = _STRICT
    name: CatalogName
    description: Annotated[str, Field(max_length=500)] = ""


class IntegrationCreate(BaseModel):
    """A new integration; only ``custom`` integrations bring their own catalogs."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "billing",
                    "type": "custom",
                    "name": "Billing system",
                    "event_types": [{"name": "invoice.paid", "description": "An invoice was paid."}],
                    "object_types": [{"name": "invoice", "description": "An invoice."}],
                }
            ]
        },
    )
    id: Slug
    type: IntegrationType
    name: Name
    # A bare name is validated by the same pattern here, so a bad one is a 422 naming its index.
    event_types: Annotated[list[CatalogItemIn | CatalogName], Field(max_length=500)] | None = None
    object_types: Annotated[list[CatalogItemIn | CatalogName], Field(max_length=500)] | None = None


class IntegrationPublic(BaseModel):
    """An integration with webhook counts."""

    id: str
    type: IntegrationType
    name: str
    created_at: datetime
    webhook_count: int = 0
    active_webhook_count: int = 0
    failing_webhook_count: int | None = Field(
        default=None, description="Webhooks whose last delivery failed (None when not tracked)."
    )


class IntegrationsPublic(BaseModel):
    """Every integration the token may see."""

    items: list[IntegrationPublic]


class CatalogPublic(BaseModel):
    """An integration's event-type or object-type catalog."""

    integration_id: str
    items: list[CatalogItem]


class WebhookCreate(BaseModel):
    """A new webhook (POST) or the full replacement of one (PUT: an omitted ``auth`` keeps the stored one)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_WEBHOOK_EXAMPLE]})

    name: Name | None = Field(default=None, description="Defaults to the URL's host.")
    description: Description = ""
    subscription_url: Annotated[str, Field(min_length=1, max_length=8192)] = Field(
        description="Whitespace is removed and scheme/host lower-cased before validation; the sanitised form is stored."
    )
    event_types: Annotated[list[ShortText], Field(min_length=1, max_length=500)] = Field(
        description="Event types of the integration's catalog; `*` and (FHIR) `Resource.*` wildcards allowed."
    )
    object_types: Annotated[list[ShortText], Field(max_length=500)] | None = None
    object_ids: Annotated[list[ObjectId], Field(max_length=1000)] | None = None
    filter: dict[str, Any] | None = Field(default=None, description="Predicate in the filter language.")
    criteria: Annotated[str, Field(max_length=2048)] | None = Field(
        default=None,
        description="FHIR search criteria, e.g. `Appointment?status=booked` (FHIR integrations).",
    )
    priority: Priority = "normal"
    auth: AuthConfig | None = Field(default=None, description="Write-only; responses show a masked hint.")
    retry_policy: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout_ms: int = Field(default=15000, ge=100, le=30000)
    max_in_flight: int = Field(default=10, ge=1, le=1000)
    rate_limit_per_s: float | None = Field(default=None, gt=0, le=100000)
    active: bool = True


class WebhookPatch(BaseModel):
    """A partial update: only the fields given change (``null`` clears an optional field)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"active": True}, {"timeout_ms": 5000}]}
    )

    name: Name | None = None
    description: Description | None = None
    subscription_url: Annotated[str, Field(min_length=1, max_length=8192)] | None = None
    event_types: Annotated[list[ShortText], Field(min_length=1, max_length=500)] | None = None
    object_types: Annotated[list[ShortText], Field(max_length=500)] | None = None
    object_ids: Annotated[list[ObjectId], Field(max_length=1000)] | None = None
    filter: dict[str, Any] | None = None
    criteria: Annotated[str, Field(max_length=2048)] | None = None
    priority: Priority | None = None
    auth: AuthConfig | None = None
    retry_policy: RetryPolicy | None = None
    timeout_ms: int | None = Field(default=None, ge=100, le=30000)
    max_in_flight: int | None = Field(default=None, ge=1, le=1000)
    rate_limit_per_s: float | None = Field(default=None, gt=0, le=100000)
    active: bool | None = None


class WebhookPublic(BaseModel):
    """A webhook as the API shows it (credentials only as masked hints)."""

    id: str
    integration_id: str
    name: str
    description: str
    subscription_url: str
    event_types: list[str]
    object_types: list[str] | None
    object_ids: list[str] | None
    filter: dict[str, Any] | None
    criteria: str | None
    priority: Priority
    auth: dict[str, str] = Field(
        description="Type and masked hints, e.g. {'type': 'bearer', 'token_hint': '****abcd'}."
    )
    retry_policy: RetryPolicy
    timeout_ms: int
    max_in_flight: int
    rate_limit_per_s: float | None
    active: bool
    deactivated_reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class WebhookCheck(BaseModel):
    """The verdict of ``POST .../webhooks/check``: the body would be accepted as shown."""

    ok: Literal[True] = True
    name: str = Field(description="The name that would be stored (defaults to the URL's host).")
    subscription_url: str = Field(description="The sanitised URL that would be stored.")
    event_types: list[str]


class WebhookCreated(WebhookPublic):
    """The create answer: the only time the signing secret comes with the webhook."""

    signing_secret: str = Field(description="Standard Webhooks secret `whsec_...`; keep it safe.")


class WebhooksPublic(BaseModel):
    """One page of webhooks."""

    items: list[WebhookPublic]
    total: int = Field(description="Webhooks matching the filters (all pages).")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class SigningSecretPublic(BaseModel):
    """A signing secret (admin only)."""

    secret: str
    created_at: datetime
    expires_at: datetime | None


class SigningSecretsPublic(BaseModel):
    """The current secret first, then older ones still inside their grace period."""

    webhook_id: str
    secret: str = Field(description="The current secret.")
    secrets: list[SigningSecretPublic]


class RotateSecret(BaseModel):
    """How long the old secret stays valid."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"grace_period_s": 86400}]})
    grace_period_s: int = Field(default=86400, ge=0, le=30 * 86400)


class TokenCreate(BaseModel):
    """A new API token."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "ci-viewer", "role": "viewer", "integration_ids": ["surveymonkey"]}]
        },
    )
    name: Name
    role: Literal["viewer", "operator", "admin"]
    integration_ids: Annotated[list[Slug], Field(max_length=100)] | None = None


class TokenPublic(BaseModel):
    """A token's metadata (never the token)."""

    id: str
    name: str
    role: str
    integration_ids: list[str] | None
    created_by: str
    created_at: datetime
    revoked_at: datetime | None


class TokenCreated(TokenPublic):
    """The create answer: the only time the token is shown."""

    token: str


class TokensPublic(BaseModel):
    """Every token."""

    items: list[TokenPublic]


class AuditRecord(BaseModel):
    """One change."""

    id: int
    at: datetime
    actor: str
    action: str
    integration_id: str | None
    webhook_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    details: dict[str, Any] | None


class AuditPublic(BaseModel):
    """Newest first."""

    items: list[AuditRecord]


class PriorityRulesUpdate(BaseModel):
    """Which contacts and events of an integration are delivered on the priority lane."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "custom_field_rules": [{"field": "1", "equals": "vip"}],
                    "contact_ids": ["123"],
                    "event_types": [],
                }
            ]
        },
    )
    custom_field_rules: Annotated[list[ContactRule], Field(max_length=100)] = Field(default_factory=list)
    contact_ids: Annotated[list[ObjectId], Field(max_length=10000)] = Field(default_factory=list)
    contact_list_ids: Annotated[list[ObjectId], Field(max_length=1000)] = Field(default_factory=list)
    event_types: Annotated[list[ShortText], Field(max_length=500)] = Field(default_factory=list)


class PriorityRulesPublic(PriorityRulesUpdate):
    """An integration's priority rules."""

    model_config = ConfigDict(extra="ignore")
    integration_id: str
    updated_at: datetime | None


class ResyncPublic(BaseModel):
    """What a resync queued."""

    webhooks: int
    priority_rules: int
    tombstones: int


def no_auth() -> NoAuth:
    """The default auth object."""
    return NoAuth()
