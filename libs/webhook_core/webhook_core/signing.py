"""Standard Webhooks signatures: ``v1,<base64 HMAC-SHA256("{id}.{timestamp}.{body}")>``."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Sequence
from functools import lru_cache


@lru_cache(maxsize=4096)
def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret (its base64-decoded part; memoised, it is asked per send)."""
    raw = secret.removeprefix("whsec_")
    return base64.b64decode(raw)


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<sig>`` signature."""
    to_sign = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.digest(secret_bytes(secret), to_sign, "sha256")
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per valid secret, space-separated."""
    return " ".join(sign(s, message_id, timestamp, body) for s in secrets)
