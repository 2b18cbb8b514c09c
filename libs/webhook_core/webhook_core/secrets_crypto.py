"""AES-256-GCM encryption of secrets at rest (PostgreSQL) and on Kafka (``webhooks.config``).

Format: ``v1.<base64url(nonce || ciphertext+tag)>``. The associated data binds a ciphertext to its
purpose (e.g. ``webhook:<id>:auth``) so one cannot be swapped for another.
"""

from __future__ import annotations

import base64
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "v1."


class DecryptionError(ValueError):
    """A ciphertext could not be decrypted (wrong key, tampered, or wrong associated data)."""


class SecretBox:
    """Encrypts and decrypts short secrets with one 32-byte key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("secrets key must be 32 bytes")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str, context: str = "") -> str:
        """Encrypt text; ``context`` must be given again to decrypt."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, context: str = "") -> str:
        """Decrypt what :meth:`encrypt` produced with the same context."""
        if not token.startswith(_PREFIX):
            raise DecryptionError("unknown ciphertext format")
        try:
            raw = base64.urlsafe_b64decode(token[len(_PREFIX) :])
            return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise DecryptionError("ciphertext does not decrypt with this key") from exc


def generate_signing_secret() -> str:
    """A new Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def generate_key() -> str:
    """A new ``WEBHOOK_SECRETS_KEY`` value (base64 of 32 random bytes)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def mask(secret: str, visible: int = 4) -> str:
    """A hint such as ``****abcd`` that shows only the last characters."""
    if len(secret) <= visible * 2:
        return "****"
    return "****" + secret[-visible:]
