-- Core tables of the config API: integrations, webhooks, signing secrets, priority rules, outbox.
CREATE TABLE IF NOT EXISTS integrations (
    id           text PRIMARY KEY,
    type         text NOT NULL CHECK (type IN ('surveymonkey', 'fhir', 'custom')),
    name         text NOT NULL,
    -- custom integrations only: {"name": "description"} catalogs
    event_types  jsonb,
    object_types jsonb,
    created_at   timestamptz NOT NULL DEFAULT now()
);

INSERT INTO integrations (id, type, name) VALUES
    ('surveymonkey', 'surveymonkey', 'SurveyMonkey'),
    ('ehr', 'fhir', 'EHR (FHIR)')
ON CONFLICT (id) DO NOTHING;

CREATE TABLE IF NOT EXISTS webhooks (
    id                 text PRIMARY KEY,
    integration_id     text NOT NULL REFERENCES integrations (id),
    name               text NOT NULL,
    subscription_url   text NOT NULL,
    event_types        text[] NOT NULL,
    object_types       text[],
    object_ids         text[],
    filter             jsonb,
    criteria           text,
    priority           text NOT NULL DEFAULT 'normal',
    auth_type          text NOT NULL DEFAULT 'none',
    auth_encrypted     text,
    auth_hint          jsonb NOT NULL DEFAULT '{"type": "none"}',
    retry_policy       jsonb NOT NULL,
    timeout_ms         integer NOT NULL,
    max_in_flight      integer NOT NULL,
    rate_limit_per_s   double precision,
    active             boolean NOT NULL DEFAULT true,
    deactivated_reason text,
    version            bigint NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhooks_integration_idx ON webhooks (integration_id, created_at, id);

CREATE TABLE IF NOT EXISTS webhook_signing_secrets (
    id         bigserial PRIMARY KEY,
    webhook_id text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    encrypted  text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz
);
CREATE INDEX IF NOT EXISTS webhook_signing_secrets_webhook_idx ON webhook_signing_secrets (webhook_id, id DESC);

CREATE TABLE IF NOT EXISTS priority_rules (
    integration_id text PRIMARY KEY REFERENCES integrations (id),
    rules          jsonb NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Rows are written in the same transaction as the change, under an advisory lock, so id order is
-- commit order; the relay publishes in id order. value NULL = tombstone.
CREATE TABLE IF NOT EXISTS config_outbox (
    id         bigserial PRIMARY KEY,
    key        text NOT NULL,
    value      bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
CREATE INDEX IF NOT EXISTS config_outbox_pending_idx ON config_outbox (id) WHERE sent_at IS NULL;
