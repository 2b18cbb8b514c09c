"""The observation wing: delivery results ingest, attempt store, rollups, health, auto-deactivation,
status, retention, logs and manual retry.

It reads and changes webhook configuration only through :mod:`config_api.webhooks.access`.
"""
