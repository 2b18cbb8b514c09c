-- webhook.failing / webhook.recovered (operational webhooks, docs/observability.md#operational-webhooks):
-- whether the webhook is in an announced failing spell, and a change decided on ingest (same
-- transaction) but not yet published on webhooks.ops (cleared after the publish).
ALTER TABLE webhook_delivery_health ADD COLUMN IF NOT EXISTS failing_announced boolean NOT NULL DEFAULT false;
ALTER TABLE webhook_delivery_health ADD COLUMN IF NOT EXISTS pending_health_change text;
CREATE INDEX IF NOT EXISTS webhook_delivery_health_change_idx
    ON webhook_delivery_health (webhook_id) WHERE pending_health_change IS NOT NULL;
