-- Durable replay records of the DLQ replayer (created idempotently at start-up).
CREATE TABLE IF NOT EXISTS dlq_replays (
    id            text PRIMARY KEY,
    dlq_topic     text NOT NULL,
    requested_by  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    status        text NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
    filters       jsonb NOT NULL,
    options       jsonb NOT NULL,
    error         text,
    runs          integer NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS dlq_replays_created_idx ON dlq_replays (created_at DESC);
-- When a run's end was published on webhooks.ops (dlq.replay.completed); NULL = still to announce.
-- Rows that existed before the column count as announced (no burst of old ends after an upgrade).
ALTER TABLE dlq_replays ADD COLUMN IF NOT EXISTS announced_at timestamptz DEFAULT now();
ALTER TABLE dlq_replays ALTER COLUMN announced_at DROP DEFAULT;
CREATE INDEX IF NOT EXISTS dlq_replays_unannounced_idx
    ON dlq_replays (finished_at) WHERE announced_at IS NULL AND finished_at IS NOT NULL;

-- One row per selected DLQ record; 'sent' means the broker acknowledged the republished job.
CREATE TABLE IF NOT EXISTS dlq_replay_items (
    replay_id      text NOT NULL REFERENCES dlq_replays (id) ON DELETE CASCADE,
    dlq_topic      text NOT NULL,
    dlq_partition  integer NOT NULL,
    dlq_offset     bigint NOT NULL,
    webhook_id     text NOT NULL,
    integration_id text NOT NULL,
    delivery_id    text NOT NULL,
    state          text NOT NULL CHECK (state IN (
        'pending', 'sent', 'failed', 'skipped_deleted', 'skipped_inactive', 'skipped_already_replayed')),
    error          text,
    sent_at        timestamptz,
    PRIMARY KEY (replay_id, dlq_topic, dlq_partition, dlq_offset)
);
CREATE INDEX IF NOT EXISTS dlq_replay_items_sent_idx
    ON dlq_replay_items (dlq_topic, dlq_partition, dlq_offset) WHERE state = 'sent';
