"""Secrets key rotation: key ids in ciphertexts, the first key encrypts, every configured key decrypts."""

from __future__ import annotations

import base64
import os

import pytest

from service_kit.settings import CommonSettings, decode_secrets_key
from webhook_core.secrets_crypto import DecryptionError, SecretBox, key_id

A, B = os.urandom(32), os.urandom(32)


def _v1(key: bytes, text: str, context: str) -> str:
    """A ciphertext as releases before key ids wrote it."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return (
        "v1."
        + base64.urlsafe_b64encode(
            nonce + AESGCM(key).encrypt(nonce, text.encode(), context.encode())
        ).decode()
    )


def test_ciphertexts_carry_the_key_id_and_any_configured_key_decrypts() -> None:
    old = SecretBox(A).encrypt("s3cret", "ctx")
    assert old.startswith(f"v2.{key_id(A)}.") and "s3cret" not in old
    rotated = SecretBox([B, A])
    assert rotated.decrypt(old, "ctx") == "s3cret"
    new = rotated.encrypt("s3cret", "ctx")
    assert new.startswith(f"v2.{key_id(B)}.") and rotated.written_with_current_key(new)
    assert SecretBox([B]).decrypt(new, "ctx") == "s3cret"
    with pytest.raises(DecryptionError, match="not configured"):
        SecretBox([B]).decrypt(old, "ctx")
    with pytest.raises(DecryptionError):
        rotated.decrypt(new, "other-ctx")


def test_ciphertexts_without_key_id_stay_readable() -> None:
    legacy = _v1(A, "tok", "webhook:w:auth")
    assert SecretBox([B, A]).decrypt(legacy, "webhook:w:auth") == "tok"
    assert SecretBox([B, A]).reencrypt(legacy, "webhook:w:auth").startswith(f"v2.{key_id(B)}.")
    with pytest.raises(DecryptionError):
        SecretBox([B]).decrypt(legacy, "webhook:w:auth")


def _key_text(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_settings_read_the_key_list_and_the_old_single_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBHOOK_SECRETS_KEY", raising=False)
    monkeypatch.setenv("WEBHOOK_SECRETS_KEYS", f"{_key_text(B)}, {_key_text(A)}")
    assert CommonSettings().secrets_keys == [B, A]
    monkeypatch.delenv("WEBHOOK_SECRETS_KEYS")
    monkeypatch.setenv("WEBHOOK_SECRETS_KEY", _key_text(A))
    assert CommonSettings().secrets_keys == [A] and CommonSettings().secrets_key == A
    monkeypatch.setenv("WEBHOOK_SECRETS_KEYS", _key_text(B))
    assert CommonSettings().secrets_keys == [B, A]  # the list first; the old name still decrypts
    assert decode_secrets_key(_key_text(A)) == A
