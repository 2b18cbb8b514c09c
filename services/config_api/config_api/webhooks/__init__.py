"""The configuration wing: integrations, catalogs, webhooks, secrets, priority rules, the outbox to
``webhooks.config``, test deliveries and sample payloads.

The deliveries wing reaches this one only through :mod:`config_api.webhooks.access`.
"""
