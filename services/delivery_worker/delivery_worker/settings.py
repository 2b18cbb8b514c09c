"""Delivery worker settings (``DELIVERY_WORKER_*`` plus the shared names of CommonSettings)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from service_kit.settings import CommonSettings
from service_kit.settings_fields import (
    ConsumerGroupSettings,
    ReadyTimeoutSettings,
    ServerSettings,
    group_id_field,
    port_field,
)


class WorkerSettings(ServerSettings, ConsumerGroupSettings, ReadyTimeoutSettings, CommonSettings):
    """Everything the delivery worker reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="DELIVERY_WORKER_")

    port: int = port_field(9102)
    group_id: str = group_id_field("delivery-worker")
    max_concurrency: int = Field(
        default=256, ge=1, le=10_000, description="Requests in flight, all webhooks."
    )
    max_pending: int = Field(
        default=2000,
        ge=1,
        le=100_000,
        description="Jobs fetched but not finished before fetching pauses (per consumer: new jobs, retry tiers).",
    )
    max_queued_per_webhook: int = Field(
        default=200,
        ge=1,
        le=100_000,
        description="Jobs of one webhook waiting for an in-flight slot before parking on the 1 s tier is "
        "considered (it happens only when that queue would take longer than 1 s to drain, the "
        "fetch window is not turning over within 1 s and the worker is not CPU-bound).",
    )
    unknown_webhook_grace_ms: int = Field(
        default=60_000,
        ge=0,
        le=3_600_000,
        description="A job for a webhook not (yet) in this worker's view is deferred, not cancelled, "
        "for this long after dispatch (the dispatcher may have seen the webhook first).",
    )
    producer_linger_ms: int = Field(
        default=5,
        ge=0,
        le=1000,
        description="How long the first record after a quiet spell (result, retry hop, dead letter) waits "
        "for others to share its produce request; under load, batches form while the previous one is "
        "in flight (after the POST: it delays the offset commit, not the delivery).",
    )
    retry_fetch_max_wait_ms: int = Field(
        default=500,
        ge=1,
        le=5000,
        description="Fetch wait of the consumer of the retry tiers (its own group, '<GROUP_ID>-retries'): "
        "the shortest tier is 1 s, and a longer wait means far fewer empty fetches of idle tier partitions.",
    )
    poll_timeout_ms: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="Longest wait of one fetch (it returns as soon as jobs arrive); `make run` sets 100 "
        "for the embedded broker.",
    )
    commit_interval_ms: int = Field(
        default=200, ge=10, le=60_000, description="How often finished offsets are committed."
    )
    circuit_failure_threshold: int = Field(
        default=5, ge=1, le=1000, description="Consecutive failures that open a circuit."
    )
    circuit_cooldown_ms: int = Field(
        default=5000,
        ge=1,
        le=86_400_000,
        description="First open period; doubles per re-open up to the max retry delay.",
    )
    retry_floor_ms: int = Field(
        default=1000, ge=0, le=600_000, description="Minimum delay after a timeout or 429."
    )
    dns_cache_ttl_ms: int = Field(
        default=10_000,
        ge=0,
        le=3_600_000,
        description="Reuse of a host's resolved addresses (0 = resolve per send).",
    )
    max_record_bytes: int = Field(
        default=4_000_000,
        ge=16_384,
        le=100_000_000,
        description="Largest record the worker produces (results, retry hops, dead letters, invalid "
        "records); keep it below the topics' max.message.bytes and the producer's 4 MiB max_request_size. "
        "A result whose encrypted body would not fit carries the body's SHA-256 instead; a job too large "
        "for a retry hop or a dead letter ends with a record_too_large result.",
    )
    dns_timeout_ms: int = Field(
        default=5000,
        ge=100,
        le=60_000,
        description="Longest DNS lookup (asynchronous, one in flight per host; the webhook's timeout_ms "
        "still bounds each delivery's wait).",
    )
    dns_negative_ttl_ms: int = Field(
        default=5000,
        ge=0,
        le=600_000,
        description="How long a failed lookup (no such name, timeout) is remembered before asking again.",
    )
    due_tolerance_ms: int = Field(
        default=20, ge=0, le=10_000, description="A retry this close to due is attempted now."
    )
    shutdown_grace_s: float = Field(
        default=15.0, ge=0, le=600, description="Time to finish in-flight jobs on shutdown."
    )
