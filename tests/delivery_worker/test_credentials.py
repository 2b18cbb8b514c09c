"""The worker's cache of decrypted credentials follows the config view: dropped on change or tombstone."""

from __future__ import annotations

import time
from datetime import timedelta

from dw_helpers import make_config

from contracts.base import utcnow
from contracts.webhooks import BearerAuth
from delivery_worker.credentials import CredentialCache
from service_kit.config_view import WebhookView
from webhook_core.secrets_crypto import SecretBox


def test_plaintext_is_dropped_when_the_webhook_is_deleted(box: SecretBox) -> None:
    view = WebhookView()
    cache = CredentialCache(box, view)
    config = make_config(
        box, "https://example.com/h", secrets=[("whsec_a", None)], auth=BearerAuth(token="t0k")
    )
    view.apply(config.id, config.to_bytes())
    secrets, auth = cache.get(config, time.time())
    assert secrets == ["whsec_a"] and auth == BearerAuth(token="t0k")
    assert config.id in cache
    view.apply(config.id, None)  # tombstone
    assert config.id not in cache and len(cache) == 0


def test_plaintext_is_dropped_when_secrets_or_credentials_change(box: SecretBox) -> None:
    view = WebhookView()
    cache = CredentialCache(box, view)
    old = make_config(box, "https://example.com/h", secrets=[("whsec_a", None)], auth=BearerAuth(token="old"))
    view.apply(old.id, old.to_bytes())
    cache.get(old, time.time())
    new = make_config(
        box,
        "https://example.com/h",
        webhook_id=old.id,
        secrets=[("whsec_b", None)],
        auth=BearerAuth(token="new"),
        version=old.version + 1,
    )
    view.apply(new.id, new.to_bytes())
    assert old.id not in cache  # dropped at once, not at the next delivery
    assert cache.get(new, time.time()) == (["whsec_b"], BearerAuth(token="new"))


def test_an_expiring_secret_stops_signing_at_its_expiry(box: SecretBox) -> None:
    view = WebhookView()
    cache = CredentialCache(box, view)
    expiry = utcnow() + timedelta(seconds=60)
    config = make_config(box, "https://example.com/h", secrets=[("whsec_new", None), ("whsec_old", expiry)])
    now = time.time()
    assert cache.get(config, now)[0] == ["whsec_new", "whsec_old"]
    assert cache.get(config, expiry.timestamp() + 1)[0] == ["whsec_new"]
