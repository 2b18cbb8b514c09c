CREATE TABLE IF NOT EXISTS api_tokens (
    id              uuid PRIMARY KEY,
    name            text NOT NULL,
    role            text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    integration_ids text[],
    token_hash      text NOT NULL UNIQUE,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);

CREATE TABLE IF NOT EXISTS audit_log (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    actor          text NOT NULL,
    action         text NOT NULL,
    integration_id text,
    webhook_id     text,
    before         jsonb,
    after          jsonb,
    details        jsonb
);
CREATE INDEX IF NOT EXISTS audit_log_integration_idx ON audit_log (integration_id, id DESC);
CREATE INDEX IF NOT EXISTS audit_log_webhook_idx ON audit_log (webhook_id, id DESC);
