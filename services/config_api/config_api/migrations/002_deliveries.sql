-- Delivery side of the config API: attempt log, rollups for the status endpoint, per-webhook
-- health, and the payloads kept for manual retries. Idempotent (IF NOT EXISTS everywhere) so it
-- can be applied at every start-up.

-- One row per delivery result (attempt, cancel or dead-letter). The unique index makes ingestion
-- idempotent: re-consuming the results topic after a crash inserts nothing twice, and the rollups
-- below are only updated for rows that were really inserted.
CREATE TABLE IF NOT EXISTS delivery_attempts (
    id                    bigserial PRIMARY KEY,
    webhook_id            text        NOT NULL,
    integration_id        text        NOT NULL,
    delivery_id           text        NOT NULL,
    -- '' for a normal delivery, the replay id for a manual retry / DLQ replay (which restart at attempt 1)
    replay_id             text        NOT NULL DEFAULT '',
    event_id              text        NOT NULL,
    event_type            text        NOT NULL,
    attempt               integer     NOT NULL,
    outcome               text        NOT NULL,
    status_code           integer,
    error_category        text,
    error                 text,
    response_ms           integer,
    response_body_excerpt text,
    attempted_at          timestamptz NOT NULL,
    next_attempt_at       timestamptz,
    circuit_state         text,
    ingested_at           timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS delivery_attempts_once_idx
    ON delivery_attempts (delivery_id, replay_id, attempt, outcome);
-- Newest-first log pages per webhook (keyset pagination on (attempted_at, id)).
CREATE INDEX IF NOT EXISTS delivery_attempts_webhook_time_idx
    ON delivery_attempts (webhook_id, attempted_at DESC, id DESC);
-- The common "failures only" view of the logs.
CREATE INDEX IF NOT EXISTS delivery_attempts_webhook_outcome_idx
    ON delivery_attempts (webhook_id, outcome, attempted_at DESC, id DESC);
-- Retention purges by age across all webhooks.
CREATE INDEX IF NOT EXISTS delivery_attempts_attempted_at_idx ON delivery_attempts (attempted_at);

-- Per-webhook counters in time buckets: 60 s buckets answer the 1h window, 3600 s buckets the
-- 24h and 7d windows, so GET .../status sums at most 168 small rows whatever the log size.
-- latency_hist counts attempts per latency bin (bins in config_api.latency_histogram).
CREATE TABLE IF NOT EXISTS delivery_stats (
    webhook_id      text        NOT NULL,
    bucket_s        integer     NOT NULL,
    bucket_start    timestamptz NOT NULL,
    integration_id  text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    succeeded       integer     NOT NULL DEFAULT 0,
    failed          integer     NOT NULL DEFAULT 0,
    retrying        integer     NOT NULL DEFAULT 0,
    dead_lettered   integer     NOT NULL DEFAULT 0,
    cancelled       integer     NOT NULL DEFAULT 0,
    latency_hist    integer[]   NOT NULL,
    PRIMARY KEY (webhook_id, bucket_s, bucket_start)
);
CREATE INDEX IF NOT EXISTS delivery_stats_integration_idx
    ON delivery_stats (integration_id, bucket_s, bucket_start);

-- Health of each webhook, updated on ingest: what auto-deactivation decides on.
CREATE TABLE IF NOT EXISTS webhook_delivery_health (
    webhook_id               text PRIMARY KEY,
    integration_id           text        NOT NULL,
    consecutive_failures     integer     NOT NULL DEFAULT 0,
    last_failed_delivery     text,
    failing_since            timestamptz,
    last_success_at          timestamptz,
    last_failure_at          timestamptz,
    last_error               text,
    last_error_category      text,
    last_status_code         integer,
    -- a deactivation decided on ingest, carried out (and cleared) after the commit; kept here so
    -- a crash between the two does not lose it
    pending_deactivation     text,
    updated_at               timestamptz NOT NULL DEFAULT now()
);

-- Deliveries waiting for a retry (latest result "retrying"); removed by any final outcome.
CREATE TABLE IF NOT EXISTS delivery_pending_retries (
    delivery_id     text PRIMARY KEY,
    webhook_id      text        NOT NULL,
    next_attempt_at timestamptz,
    attempt         integer     NOT NULL
);
CREATE INDEX IF NOT EXISTS delivery_pending_retries_webhook_idx ON delivery_pending_retries (webhook_id);

-- What a manual retry needs: the job body, AES-GCM encrypted by the worker (context
-- delivery:<delivery_id>; it may hold PHI) and the job's metadata. Kept for the retention period
-- after the last attempt.
CREATE TABLE IF NOT EXISTS delivery_payloads (
    delivery_id       text PRIMARY KEY,
    webhook_id        text        NOT NULL,
    integration_id    text        NOT NULL,
    event_id          text        NOT NULL,
    event_type        text        NOT NULL,
    payload_encrypted text        NOT NULL,
    first_attempt_at  timestamptz NOT NULL,
    last_attempt_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS delivery_payloads_last_attempt_idx ON delivery_payloads (last_attempt_at);
CREATE INDEX IF NOT EXISTS webhook_delivery_health_pending_idx
    ON webhook_delivery_health (webhook_id) WHERE pending_deactivation IS NOT NULL;
CREATE INDEX IF NOT EXISTS webhook_delivery_health_failing_idx
    ON webhook_delivery_health (failing_since) WHERE failing_since IS NOT NULL;
