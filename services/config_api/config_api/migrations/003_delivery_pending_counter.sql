-- Deliveries waiting for a retry, counted per webhook on ingest: the status endpoint reads this
-- counter instead of counting delivery_pending_retries, which grows with an endpoint's outage.
ALTER TABLE webhook_delivery_health ADD COLUMN IF NOT EXISTS pending_retries integer NOT NULL DEFAULT 0;
UPDATE webhook_delivery_health h
SET pending_retries = (SELECT count(*) FROM delivery_pending_retries p WHERE p.webhook_id = h.webhook_id);
