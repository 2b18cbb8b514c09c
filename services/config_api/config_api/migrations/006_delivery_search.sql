-- Delivery search across an integration, and bulk recovery of a webhook's failed deliveries.

-- One row per delivery with its latest attempt, kept on ingest (store.py) in the same transaction
-- as the attempt rows. The search reads this table, never the attempt log, so a page costs an
-- index range scan however many attempts there are. Ordered by the delivery's first attempt, which
-- never changes: a page never shifts when a later attempt arrives.
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id        text PRIMARY KEY,
    integration_id     text        NOT NULL,
    webhook_id         text        NOT NULL,
    event_id           text        NOT NULL,
    event_type         text        NOT NULL,
    object_type        text,
    object_id          text,
    first_attempt_at   timestamptz NOT NULL,
    -- the latest result of the delivery (a manual retry or replay starts again at attempt 1)
    last_attempt_at    timestamptz NOT NULL,
    replay_id          text        NOT NULL DEFAULT '',
    attempt            integer     NOT NULL,
    outcome            text        NOT NULL,
    status_code        integer,
    error_category     text,
    error              text,
    response_ms        integer
);
CREATE INDEX IF NOT EXISTS deliveries_integration_time_idx
    ON deliveries (integration_id, first_attempt_at DESC, delivery_id DESC);
CREATE INDEX IF NOT EXISTS deliveries_webhook_time_idx
    ON deliveries (webhook_id, first_attempt_at DESC, delivery_id DESC);
CREATE INDEX IF NOT EXISTS deliveries_integration_outcome_idx
    ON deliveries (integration_id, outcome, first_attempt_at DESC, delivery_id DESC);
CREATE INDEX IF NOT EXISTS deliveries_event_idx ON deliveries (event_id);
CREATE INDEX IF NOT EXISTS deliveries_object_idx ON deliveries (object_id) WHERE object_id IS NOT NULL;
-- Retention purges by age.
CREATE INDEX IF NOT EXISTS deliveries_last_attempt_idx ON deliveries (last_attempt_at);

-- Deliveries logged before this migration: their latest attempt from the log (no object ids:
-- results did not carry them).
INSERT INTO deliveries (delivery_id, integration_id, webhook_id, event_id, event_type, first_attempt_at,
                        last_attempt_at, replay_id, attempt, outcome, status_code, error_category, error,
                        response_ms)
SELECT DISTINCT ON (a.delivery_id)
       a.delivery_id, a.integration_id, a.webhook_id, a.event_id, a.event_type,
       min(a.attempted_at) OVER (PARTITION BY a.delivery_id), a.attempted_at, a.replay_id, a.attempt,
       a.outcome, a.status_code, a.error_category, a.error, a.response_ms
FROM delivery_attempts a
ORDER BY a.delivery_id, a.attempted_at DESC, a.id DESC
ON CONFLICT (delivery_id) DO NOTHING;

-- Error breakdown of GET .../status: counts per webhook, bucket, and status code or error
-- category (the same buckets as delivery_stats). kind is 'status' (key = the code) or 'category'.
CREATE TABLE IF NOT EXISTS delivery_error_stats (
    webhook_id      text        NOT NULL,
    bucket_s        integer     NOT NULL,
    bucket_start    timestamptz NOT NULL,
    kind            text        NOT NULL,
    key             text        NOT NULL,
    integration_id  text        NOT NULL,
    count           integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (webhook_id, bucket_s, bucket_start, kind, key)
);
CREATE INDEX IF NOT EXISTS delivery_error_stats_integration_idx
    ON delivery_error_stats (integration_id, bucket_s, bucket_start);

-- Bulk recoveries: one row per request, one item per delivery to re-send. The background task
-- (deliveries/recovery.py) works through pending items at the recovery's rate and survives a
-- restart: an item is marked sent only after Kafka acknowledged its job, and a re-sent item keeps
-- its new delivery id, so the receiver de-duplicates a job sent twice across a crash.
CREATE TABLE IF NOT EXISTS delivery_recoveries (
    id              text PRIMARY KEY,
    integration_id  text        NOT NULL,
    webhook_id      text        NOT NULL,
    requested_by    text        NOT NULL,
    since           timestamptz NOT NULL,
    until           timestamptz,
    outcomes        text[]      NOT NULL,
    force           boolean     NOT NULL DEFAULT false,
    rate_per_s      double precision NOT NULL,
    state           text        NOT NULL,   -- running | done | failed
    total           integer     NOT NULL,
    sent            integer     NOT NULL DEFAULT 0,
    skipped         integer     NOT NULL DEFAULT 0,
    -- matching deliveries left out because an earlier recovery already re-sent them (no force)
    already_recovered integer   NOT NULL DEFAULT 0,
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    lease_until     timestamptz
);
CREATE INDEX IF NOT EXISTS delivery_recoveries_running_idx
    ON delivery_recoveries (created_at) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS delivery_recoveries_webhook_idx
    ON delivery_recoveries (webhook_id, created_at DESC);

CREATE TABLE IF NOT EXISTS delivery_recovery_items (
    recovery_id      text    NOT NULL REFERENCES delivery_recoveries (id) ON DELETE CASCADE,
    delivery_id      text    NOT NULL,   -- the original delivery
    new_delivery_id  text    NOT NULL,   -- the delivery id (webhook-id header) of the re-send
    state            text    NOT NULL DEFAULT 'pending',   -- pending | sent | skipped
    sent_at          timestamptz,
    PRIMARY KEY (recovery_id, delivery_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS delivery_recovery_items_new_idx ON delivery_recovery_items (new_delivery_id);
-- "once unless force": was this delivery already re-sent by a recovery?
CREATE INDEX IF NOT EXISTS delivery_recovery_items_original_idx
    ON delivery_recovery_items (delivery_id);
CREATE INDEX IF NOT EXISTS delivery_recovery_items_pending_idx
    ON delivery_recovery_items (recovery_id, delivery_id) WHERE state = 'pending';
