"""Encrypting and decrypting a webhook's signing secrets and auth credentials.

The associated data binds each ciphertext to its webhook and purpose, so a ciphertext copied to
another webhook does not decrypt.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import TypeAdapter

from contracts.base import utcnow
from contracts.webhooks import AuthConfig, BasicAuth, BearerAuth, HeaderAuth, NoAuth, WebhookConfigV1
from webhook_core.secrets_crypto import SecretBox, mask

_AUTH = TypeAdapter[NoAuth | BasicAuth | BearerAuth | HeaderAuth](AuthConfig)


def auth_context(webhook_id: str) -> str:
    """Associated data of a webhook's auth ciphertext."""
    return f"webhook:{webhook_id}:auth"


def secret_context(webhook_id: str) -> str:
    """Associated data of a webhook's signing-secret ciphertexts."""
    return f"webhook:{webhook_id}:secret"


def encrypt_auth(
    box: SecretBox, webhook_id: str, auth: NoAuth | BasicAuth | BearerAuth | HeaderAuth
) -> str | None:
    """Ciphertext of the auth object (None for no auth)."""
    if isinstance(auth, NoAuth):
        return None
    return box.encrypt(auth.model_dump_json(), auth_context(webhook_id))


def decrypt_auth(
    box: SecretBox, webhook_id: str, token: str | None
) -> NoAuth | BasicAuth | BearerAuth | HeaderAuth:
    """The plaintext auth object."""
    if token is None:
        return NoAuth()
    return _AUTH.validate_json(box.decrypt(token, auth_context(webhook_id)))


def auth_hint(auth: NoAuth | BasicAuth | BearerAuth | HeaderAuth) -> dict[str, str]:
    """The write-only view of auth: type plus masked hints, never the credential."""
    if isinstance(auth, BasicAuth):
        return {"type": "basic", "username": auth.username, "password_hint": mask(auth.password)}
    if isinstance(auth, BearerAuth):
        return {"type": "bearer", "token_hint": mask(auth.token)}
    if isinstance(auth, HeaderAuth):
        return {"type": "header", "name": auth.name, "value_hint": mask(auth.value)}
    return {"type": "none"}


def active_signing_secrets(box: SecretBox, config: WebhookConfigV1, now: datetime | None = None) -> list[str]:
    """Plaintext secrets valid now (newest first; an old one stays during its rotation grace period)."""
    return signing_secrets_until(box, config, now or utcnow())[0]


def signing_secrets_until(
    box: SecretBox, config: WebhookConfigV1, now: datetime
) -> tuple[list[str], datetime | None]:
    """The plaintext secrets valid at ``now`` and when that set next changes (the earliest expiry
    among them; None when none expires). The one expiry rule: a secret signs until its ``expires_at``."""
    out: list[str] = []
    until: datetime | None = None
    for item in config.signing_secrets:
        if item.expires_at is not None:
            if item.expires_at <= now:
                continue
            until = item.expires_at if until is None else min(until, item.expires_at)
        out.append(box.decrypt(item.encrypted, secret_context(config.id)))
    return out, until
