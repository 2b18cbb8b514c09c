"""AES-256-GCM encryption of secrets at rest (PostgreSQL) and on Kafka (``webhooks.config``).

Format: ``v2.<key id>.<base64url(nonce || ciphertext+tag)>``; the key id (8 hex digits of a hash of
the key, not the key) says which of the configured keys decrypts it, so keys can be rotated: the
first key encrypts, every configured key decrypts. ``v1.<base64url(...)>`` (written before key ids
existed) stays readable: each configured key is tried. The associated data binds a ciphertext to its
purpose (e.g. ``webhook:<id>:auth``) so one cannot be swapped for another.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_V1 = "v1."
_V2 = "v2."


class DecryptionError(ValueError):
    """A ciphertext could not be decrypted (wrong key, tampered, or wrong associated data)."""


def key_id(key: bytes) -> str:
    """The public name of a key: 8 hex digits of a domain-separated SHA-256 (reveals nothing useful)."""
    return hashlib.sha256(b"carehooks-secrets-key-id:" + key).hexdigest()[:8]


class SecretBox:
    """Encrypts short secrets with the first key; decrypts with whichever configured key wrote them."""

    def __init__(self, keys: bytes | Sequence[bytes]) -> None:
        key_list = [keys] if isinstance(keys, bytes) else list(keys)
        if not key_list:
            raise ValueError("at least one secrets key is needed")
        for key in key_list:
            if len(key) != 32:
                raise ValueError("secrets key must be 32 bytes")
        self._keys = {key_id(k): AESGCM(k) for k in key_list}
        self.current_key_id = key_id(key_list[0])
        self._current = self._keys[self.current_key_id]

    @property
    def key_ids(self) -> list[str]:
        """Ids of the configured keys, the encrypting one first."""
        return list(self._keys)

    def encrypt(self, plaintext: str, context: str = "") -> str:
        """Encrypt text with the current key; ``context`` must be given again to decrypt."""
        nonce = os.urandom(12)
        sealed = self._current.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{_V2}{self.current_key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, context: str = "") -> str:
        """Decrypt what :meth:`encrypt` produced (with this or any configured key) with the same context."""
        if token.startswith(_V2):
            kid, _, body = token[len(_V2) :].partition(".")
            aead = self._keys.get(kid)
            if aead is None:
                raise DecryptionError(f"ciphertext was written with key {kid!r}, which is not configured")
            return _open(aead, body, context)
        if token.startswith(_V1):
            for aead in self._keys.values():
                try:
                    return _open(aead, token[len(_V1) :], context)
                except DecryptionError:
                    continue
            raise DecryptionError("ciphertext does not decrypt with any configured key")
        raise DecryptionError("unknown ciphertext format")

    def written_with_current_key(self, token: str) -> bool:
        """True when ``token`` already carries the current key id (nothing to re-encrypt)."""
        return token.startswith(f"{_V2}{self.current_key_id}.")

    def reencrypt(self, token: str, context: str = "") -> str:
        """``token`` under the current key (unchanged when it already is)."""
        if self.written_with_current_key(token):
            return token
        return self.encrypt(self.decrypt(token, context), context)


def _open(aead: AESGCM, body: str, context: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(body)
        return aead.decrypt(raw[:12], raw[12:], context.encode()).decode()
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
