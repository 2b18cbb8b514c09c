"""Receivers' response excerpts, encrypted at rest.

A receiver may echo the patient payload in its answer, so the first 1 KB it returned is stored
sealed with the secrets key (the first of ``WEBHOOK_SECRETS_KEYS``, the SecretBox scheme of the webhook
secrets; ``config-api rotate-secrets-key`` re-encrypts them),
bound to its delivery id, and shown only to operators and admins. Rows written before this change
hold plain text; they stay readable (no marker means plain text) and :func:`seal_legacy_excerpts`
encrypts them in place in small batches at start-up.
"""

from __future__ import annotations

import logging

import asyncpg

from webhook_core.secrets_crypto import DecryptionError, SecretBox

logger = logging.getLogger(__name__)

SEALED_PREFIX = "enc:"
"""Marks a stored excerpt as a ciphertext; anything else is a plain-text row from before."""
UNREADABLE = "(the stored excerpt does not decrypt with any configured key, WEBHOOK_SECRETS_KEYS)"


def excerpt_context(delivery_id: str) -> str:
    """Associated data of an excerpt: a ciphertext copied to another delivery does not decrypt."""
    return f"delivery:{delivery_id}:excerpt"


def seal_excerpt(box: SecretBox, delivery_id: str, text: str | None) -> str | None:
    """The stored form of an excerpt (None and empty stay as they are: nothing to hide)."""
    if not text:
        return text
    return SEALED_PREFIX + box.encrypt(text, excerpt_context(delivery_id))


def open_excerpt(box: SecretBox, delivery_id: str, stored: str | None) -> str | None:
    """The excerpt as the receiver sent it, from its stored form (sealed or legacy plain text)."""
    if not stored or not stored.startswith(SEALED_PREFIX):
        return stored
    try:
        return box.decrypt(stored[len(SEALED_PREFIX) :], excerpt_context(delivery_id))
    except DecryptionError:
        return UNREADABLE


async def seal_legacy_excerpts(pool: asyncpg.Pool, box: SecretBox, batch: int = 500) -> int:
    """Encrypt plain-text excerpts left by earlier versions; returns how many rows it sealed."""
    sealed = 0
    while True:
        rows = await pool.fetch(
            """SELECT id, delivery_id, response_body_excerpt FROM delivery_attempts
               WHERE response_body_excerpt <> '' AND left(response_body_excerpt, 4) <> $1
               LIMIT $2""",
            SEALED_PREFIX,
            batch,
        )
        if not rows:
            break
        await pool.executemany(
            # The WHERE repeats the plain-text test: a row sealed meanwhile is not sealed twice.
            """UPDATE delivery_attempts SET response_body_excerpt = $2
               WHERE id = $1 AND left(response_body_excerpt, 4) <> 'enc:'""",
            [(r["id"], seal_excerpt(box, r["delivery_id"], r["response_body_excerpt"])) for r in rows],
        )
        sealed += len(rows)
    if sealed:
        logger.info("encrypted stored response excerpts", extra={"rows": sealed})
    return sealed
