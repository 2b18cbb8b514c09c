-- webhook.failing also fires on a low recent success rate (docs/observability.md#operational-webhooks):
-- an exponentially weighted success rate of finished deliveries and how many it has seen.
ALTER TABLE webhook_delivery_health ADD COLUMN IF NOT EXISTS success_rate double precision NOT NULL DEFAULT 1;
ALTER TABLE webhook_delivery_health ADD COLUMN IF NOT EXISTS rated_deliveries integer NOT NULL DEFAULT 0;

-- The carehooks catalog gains dlq.replay.completed (produced by the DLQ replayer) and the rate rule in
-- webhook.failing's description. Equals contracts.catalogs (tests/config_api/test_operational_integration.py).
UPDATE integrations SET
    event_types = '{"webhook.deactivated": "A webhook was deactivated automatically (410 Gone, or it kept failing).", "webhook.failing": "A webhook started failing: N deliveries in a row failed (CONFIG_API_FAILING_AFTER_FAILURES) or its recent success rate fell below CONFIG_API_FAILING_BELOW_SUCCESS_RATE.", "webhook.recovered": "A webhook that was failing delivered successfully again.", "delivery.dead_lettered": "A delivery exhausted its attempts or failed permanently (dead letter).", "dlq.replay.completed": "A DLQ replay ended (completed, or failed with items left unsent); counts per state."}'::jsonb,
    object_types = '{"webhook": "A webhook (object id = webhook id).", "delivery": "A delivery (object id = delivery id).", "replay": "A DLQ replay (object id = replay id)."}'::jsonb
WHERE id = 'carehooks';
