-- A deactivation carried out but not yet announced on webhooks.ops (set in the same transaction as
-- the deactivation, cleared after the publish): the event goes out once per deactivation.
ALTER TABLE webhook_delivery_health ADD COLUMN IF NOT EXISTS pending_announcement text;
CREATE INDEX IF NOT EXISTS webhook_delivery_health_announce_idx
    ON webhook_delivery_health (webhook_id) WHERE pending_announcement IS NOT NULL;
