"""What the deliveries wing may use of the configuration wing: one narrow, named interface.

Reading a webhook's published configuration or row, and deactivating it (row, outbox record and
audit in one transaction), are the only operations the observation side needs; everything else in
this wing stays private to it.
"""

from config_api.webhooks.repository import deactivate_webhook, fetch_webhook, get_webhook_config

__all__ = ["deactivate_webhook", "fetch_webhook", "get_webhook_config"]
