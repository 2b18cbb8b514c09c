"""API schemas of the delivery side (logs, status, summary, manual retry, test delivery)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.deliveries import ErrorCategory, Outcome

_NO_NUL = r"^[^\x00]*$"


class DeliveryLogItem(BaseModel):
    """One attempt (or cancel / dead-letter) of a delivery."""

    delivery_id: str = Field(description="Same on every attempt and replay: the `webhook-id` header.")
    replay_id: str | None = Field(description="Set for manual retries and DLQ replays.")
    event_id: str
    event_type: str
    attempt: int
    outcome: Outcome
    status_code: int | None
    error_category: ErrorCategory | None
    error: str | None
    response_ms: int | None
    response_body_excerpt: str | None = Field(
        description="First 1 KB of the response body (stored encrypted; null for viewers)."
    )
    attempted_at: datetime
    next_attempt_at: datetime | None
    circuit_state: str | None


class DeliveryLogPage(BaseModel):
    """A page of the log, newest first."""

    items: list[DeliveryLogItem]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null at the end."
    )


class SeriesPoint(BaseModel):
    """One step of the status chart."""

    start: datetime
    attempts: int
    succeeded: int
    failed: int
    dead_lettered: int


class StatusCodeCount(BaseModel):
    """Attempts answered with one HTTP status code in the window."""

    status_code: int
    count: int


class ErrorCategoryCount(BaseModel):
    """Failed attempts of one error category in the window."""

    error_category: str
    count: int


class WebhookStatus(BaseModel):
    """Health of a webhook and its delivery figures over a window."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "webhook_id": "wh_123",
                "active": True,
                "deactivated_reason": None,
                "consecutive_failures": 0,
                "last_success_at": "2026-11-28T10:00:00Z",
                "last_failure_at": None,
                "last_error": None,
                "window": "24h",
                "attempts": 120,
                "succeeded": 118,
                "failed": 2,
                "success_rate": 0.9833,
                "p50_ms": 84,
                "p95_ms": 310,
                "dead_lettered": 0,
                "pending_retries": 1,
            }
        }
    )

    webhook_id: str
    active: bool
    deactivated_reason: str | None
    consecutive_failures: int = Field(description="Deliveries in a row that ended failed or dead-lettered.")
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
    last_error_category: str | None
    failing_since: datetime | None = Field(description="First failure after the last success.")
    window: Literal["1h", "24h", "7d"]
    attempts: int = Field(description="Requests made in the window.")
    succeeded: int
    failed: int = Field(description="Attempts that did not succeed (retried or not).")
    success_rate: float | None = Field(description="succeeded / attempts; null without attempts.")
    p50_ms: int | None = Field(description="Median response time (from a histogram, about ±12 %).")
    p95_ms: int | None
    dead_lettered: int
    cancelled: int
    pending_retries: int = Field(description="Deliveries now waiting for their next attempt.")
    series: list[SeriesPoint] = Field(description="1h: 12 steps of 5 min, 24h: 24 of 1 h, 7d: 28 of 6 h.")
    status_codes: list[StatusCodeCount] = Field(
        default_factory=list, description="Attempts per HTTP status code in the window, most frequent first."
    )
    error_categories: list[ErrorCategoryCount] = Field(
        default_factory=list,
        description="Failed attempts per error category in the window (e.g. timeout, http_5xx), most frequent first.",
    )


class WebhookDeliverySummary(BaseModel):
    """One webhook in the integration's delivery summary."""

    webhook_id: str
    name: str
    active: bool
    deactivated_reason: str | None
    failing: bool = Field(description="Active, and no success since its last failure.")
    consecutive_failures: int
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
    attempts_24h: int
    failed_24h: int
    dead_lettered_24h: int


class IntegrationDeliverySummary(BaseModel):
    """Delivery health of every webhook of an integration."""

    integration_id: str
    failing: int
    inactive: int
    webhooks: list[WebhookDeliverySummary]
    status_codes_24h: list[StatusCodeCount] = Field(
        default_factory=list, description="Attempts per status code over the last 24 h, all webhooks."
    )
    error_categories_24h: list[ErrorCategoryCount] = Field(
        default_factory=list,
        description="Failed attempts per error category over the last 24 h, all webhooks.",
    )


class DeliverySearchItem(BaseModel):
    """One delivery with its latest attempt."""

    delivery_id: str = Field(description="The `webhook-id` header the receiver saw.")
    webhook_id: str
    webhook_name: str | None = Field(description="Null when the webhook has been deleted since.")
    event_id: str
    event_type: str
    object_type: str | None
    object_id: str | None = Field(description="Null for deliveries logged before object ids were recorded.")
    first_attempt_at: datetime = Field(description="When the delivery was first attempted (the sort key).")
    last_attempt_at: datetime
    attempt: int = Field(description="Number of the latest attempt (a retry or replay starts again at 1).")
    outcome: Outcome = Field(description="Outcome of the latest attempt.")
    status_code: int | None
    error_category: ErrorCategory | None
    error: str | None
    response_ms: int | None
    replay_id: str | None = Field(
        description="Set when the latest attempt belongs to a retry, replay or recovery."
    )
    recovered_from: str | None = Field(
        description="For a delivery sent by a bulk recovery: the delivery id it re-sends."
    )
    logs_url: str = Field(description="Every attempt of this delivery in the webhook's log.")


class DeliverySearchPage(BaseModel):
    """A page of deliveries, newest first (by first attempt)."""

    items: list[DeliverySearchItem]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null at the end."
    )


class RetryAccepted(BaseModel):
    """A manual retry was queued; follow it in the logs with `delivery_id` (and `replay_id`)."""

    delivery_id: str
    replay_id: str
    attempt: int = Field(description="The attempt number the retry will log (a retry starts again at 1).")
    topic: str
    logs_url: str


class TestDeliveryRequest(BaseModel):
    """Either an existing webhook, or a URL and an event type."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"webhook_id": "wh_123"},
                {
                    "subscription_url": "https://receiver.example.org/hooks",
                    "event_type": "response_completed",
                },
            ]
        },
    )

    webhook_id: str | None = Field(default=None, max_length=200, pattern=_NO_NUL)
    subscription_url: str | None = Field(default=None, max_length=4096, pattern=_NO_NUL)
    event_type: str | None = Field(
        default=None,
        max_length=200,
        pattern=_NO_NUL,
        description="Required with subscription_url; optional with webhook_id.",
    )


class TestDeliveryRequestEcho(BaseModel):
    """What was sent."""

    url: str
    headers: dict[str, str] = Field(description="As sent; the signature shown, auth credentials masked.")
    body: str
    signing_secret: str | None = Field(
        default=None, description="Only for a URL test: the throwaway secret the request was signed with."
    )


class TestDeliveryResult(BaseModel):
    """The outcome of one synchronous test delivery (a failing endpoint is not an API error)."""

    success: bool
    status_code: int | None
    response_ms: int
    response_body: str = Field(description="First 1 KB of the response body.")
    error: str | None
    error_category: ErrorCategory | None
    request: TestDeliveryRequestEcho


class RecoveryRequestBody(BaseModel):
    """Which failed deliveries of the webhook to send again."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"since": "2026-12-02T09:00:00Z"},
                {
                    "since": "2026-12-02T09:00:00Z",
                    "until": "2026-12-02T10:00:00Z",
                    "outcome": "dead_lettered",
                    "rate_per_s": 5,
                },
            ]
        },
    )

    since: datetime = Field(description="Deliveries first attempted at or after (UTC when no offset).")
    until: datetime | None = Field(default=None, description="... and before (exclusive).")
    outcome: Literal["failed", "dead_lettered"] | None = Field(
        default=None, description="Latest outcome to recover; null: both."
    )
    force: bool = Field(default=False, description="Send again deliveries an earlier recovery already sent.")
    rate_per_s: float | None = Field(
        default=None,
        ge=0.1,  # at most 10 s between sends, well inside the runner's 30 s lease
        le=1000,
        description="Deliveries per second (default CONFIG_API_RECOVERY_RATE_PER_S).",
    )


class Recovery(BaseModel):
    """A bulk recovery and its progress."""

    id: str
    integration_id: str
    webhook_id: str
    requested_by: str
    since: datetime
    until: datetime | None
    outcomes: list[str]
    force: bool
    rate_per_s: float
    state: Literal["running", "done", "failed"]
    total: int = Field(description="Deliveries selected to send.")
    sent: int
    skipped: int = Field(description="Selected but not sendable: payload past retention or not decryptable.")
    already_recovered: int = Field(description="Matching deliveries left out: an earlier recovery sent them.")
    pending: int
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    progress_url: str


class RecoveryList(BaseModel):
    """A webhook's latest recoveries, newest first."""

    items: list[Recovery]
