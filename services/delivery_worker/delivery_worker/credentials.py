"""Decrypted signing secrets and auth per webhook, kept only while the webhook's config is unchanged.

Decrypting per delivery would cost an AES-GCM open per secret on the hot path, so the plaintext is
kept per webhook. It is dropped as soon as the config view sees the webhook change (new version,
rotated secret, new credentials) or deleted (tombstone), so no plaintext outlives the config it came
from, and re-read when the earliest secret of the set expires (the rotation grace period ends).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from contracts.webhooks import WebhookConfigV1
from service_kit.config_view import ConfigChange, WebhookView
from webhook_core.secrets_crypto import SecretBox
from webhook_core.sending import Auth
from webhook_core.webhook_secrets import decrypt_auth, signing_secrets_until


@dataclass(frozen=True)
class _Entry:
    version: tuple[int, datetime]
    active: list[str]
    auth: Auth
    recheck_at: float
    """Unix seconds at which the set of valid secrets changes (the next expiry among them)."""


class CredentialCache:
    """Plaintext credentials per webhook id, invalidated by the config view."""

    def __init__(self, box: SecretBox, view: WebhookView) -> None:
        self.box = box
        self._entries: dict[str, _Entry] = {}
        view.subscribe(self._on_change)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, webhook_id: object) -> bool:
        return webhook_id in self._entries

    def get(self, config: WebhookConfigV1, now: float) -> tuple[list[str], Auth]:
        """Signing secrets valid at ``now`` (unix seconds) and the auth object; raises ValueError
        (DecryptionError, ValidationError) when they do not decrypt."""
        entry = self._entries.get(config.id)
        if entry is None or entry.version != (config.version, config.updated_at) or now >= entry.recheck_at:
            active, until = signing_secrets_until(self.box, config, datetime.fromtimestamp(now, UTC))
            auth = decrypt_auth(self.box, config.id, config.auth_encrypted)
            recheck = until.timestamp() if until is not None else math.inf
            entry = _Entry((config.version, config.updated_at), active, auth, recheck)
            self._entries[config.id] = entry
        return entry.active, entry.auth

    def drop(self, webhook_id: str) -> None:
        """Forget one webhook's plaintext."""
        self._entries.pop(webhook_id, None)

    def _on_change(self, change: ConfigChange) -> None:
        # Any change to a webhook (or its tombstone) may carry new secrets or credentials: drop them.
        self._entries.pop(change.key, None)
