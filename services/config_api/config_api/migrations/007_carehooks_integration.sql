-- The built-in integration of carehooks' own operational events (docs/observability.md#operational-webhooks).
-- A custom-typed integration with a fixed catalog: admins subscribe to it with ordinary webhooks; the
-- dispatcher turns webhooks.ops records into its events. The catalog equals contracts.catalogs'
-- CAREHOOKS_EVENT_TYPES / CAREHOOKS_OBJECT_TYPES (tests/config_api/test_operational_integration.py,
-- tests/e2e/test_operational_webhooks.py).
-- An existing row of that id is taken over: the id is reserved for these events.
INSERT INTO integrations (id, type, name, event_types, object_types) VALUES (
    'carehooks', 'custom', 'carehooks (operational events)',
    '{"webhook.deactivated": "A webhook was deactivated automatically (410 Gone, or it kept failing).", "webhook.failing": "A webhook started failing (N deliveries in a row failed; CONFIG_API_FAILING_AFTER_FAILURES).", "webhook.recovered": "A webhook that was failing delivered successfully again.", "delivery.dead_lettered": "A delivery exhausted its attempts or failed permanently (dead letter)."}'::jsonb,
    '{"webhook": "A webhook (object id = webhook id).", "delivery": "A delivery (object id = delivery id)."}'::jsonb
)
ON CONFLICT (id) DO UPDATE
SET type = EXCLUDED.type, name = EXCLUDED.name, event_types = EXCLUDED.event_types,
    object_types = EXCLUDED.object_types;
