"""Re-encrypting everything stored under an older secrets key with the current one.

Rotation, end to end (docs/operations-commands.md):
1. give every service ``WEBHOOK_SECRETS_KEYS=<new>,<old>`` (the first encrypts, all decrypt) and
   restart them, so nothing new is written under the old key and everything old stays readable;
2. run ``config-api rotate-secrets-key``: the webhooks' auth credentials and signing secrets are
   re-encrypted in one transaction, the stored delivery payloads and response excerpts in batches,
   and the whole
   configuration is queued on the outbox, so ``webhooks.config`` carries the new ciphertexts;
3. once the relay published it, drop the old key from ``WEBHOOK_SECRETS_KEYS``.
"""

from __future__ import annotations

import logging

import asyncpg

from config_api.deliveries.excerpts import SEALED_PREFIX, excerpt_context
from webhook_core.secrets_crypto import DecryptionError, SecretBox
from webhook_core.webhook_secrets import auth_context, secret_context

logger = logging.getLogger(__name__)

_ROTATION_LOCK = 0x726F74617465  # "rotate": two rotations at once would only waste work, but say so
PAYLOAD_BATCH = 500


class RotationError(RuntimeError):
    """A stored configuration secret does not decrypt with any configured key; nothing was changed."""


async def reencrypt_configuration(conn: asyncpg.Connection, box: SecretBox) -> tuple[int, int]:
    """Re-encrypt auth credentials and signing secrets (one transaction); returns both counts."""
    auth = secrets = 0
    async with conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _ROTATION_LOCK):
            raise RotationError("another rotate-secrets-key is running")
        rows = await conn.fetch(
            "SELECT id, auth_encrypted FROM webhooks WHERE auth_encrypted IS NOT NULL FOR UPDATE"
        )
        for row in rows:
            if box.written_with_current_key(row["auth_encrypted"]):
                continue
            new = _reencrypt(box, row["auth_encrypted"], auth_context(row["id"]), f"webhook {row['id']} auth")
            await conn.execute("UPDATE webhooks SET auth_encrypted = $2 WHERE id = $1", row["id"], new)
            auth += 1
        rows = await conn.fetch("SELECT id, webhook_id, encrypted FROM webhook_signing_secrets FOR UPDATE")
        for row in rows:
            if box.written_with_current_key(row["encrypted"]):
                continue
            what = f"webhook {row['webhook_id']} signing secret {row['id']}"
            new = _reencrypt(box, row["encrypted"], secret_context(row["webhook_id"]), what)
            await conn.execute(
                "UPDATE webhook_signing_secrets SET encrypted = $2 WHERE id = $1", row["id"], new
            )
            secrets += 1
    return auth, secrets


async def reencrypt_payloads(pool: asyncpg.Pool, box: SecretBox) -> tuple[int, int]:
    """Re-encrypt stored delivery payloads in batches; returns (re-encrypted, unreadable).

    A payload no configured key decrypts (written under a key dropped earlier) is left as it is:
    it can no longer be retried by hand, and retention deletes it in time.
    """
    done = unreadable = 0
    after = ""
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT delivery_id, payload_encrypted FROM delivery_payloads WHERE delivery_id > $1 "
                "ORDER BY delivery_id LIMIT $2 FOR UPDATE",
                after,
                PAYLOAD_BATCH,
            )
            for row in rows:
                token = row["payload_encrypted"]
                if box.written_with_current_key(token):
                    continue
                try:
                    new = box.reencrypt(token, f"delivery:{row['delivery_id']}")
                except DecryptionError:
                    unreadable += 1
                    continue
                await conn.execute(
                    "UPDATE delivery_payloads SET payload_encrypted = $2 WHERE delivery_id = $1",
                    row["delivery_id"],
                    new,
                )
                done += 1
        if len(rows) < PAYLOAD_BATCH:
            return done, unreadable
        after = rows[-1]["delivery_id"]


async def reencrypt_excerpts(pool: asyncpg.Pool, box: SecretBox) -> tuple[int, int]:
    """Re-encrypt sealed response excerpts in batches; returns (re-encrypted, unreadable).

    Plain-text excerpts of earlier releases are left to ``seal_legacy_excerpts`` (start-up).
    """
    done = unreadable = 0
    after = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, delivery_id, response_body_excerpt FROM delivery_attempts WHERE id > $1 "
                "AND left(response_body_excerpt, 4) = $2 ORDER BY id LIMIT $3 FOR UPDATE",
                after,
                SEALED_PREFIX,
                PAYLOAD_BATCH,
            )
            for row in rows:
                token = row["response_body_excerpt"][len(SEALED_PREFIX) :]
                if box.written_with_current_key(token):
                    continue
                try:
                    new = box.reencrypt(token, excerpt_context(row["delivery_id"]))
                except DecryptionError:
                    unreadable += 1
                    continue
                await conn.execute(
                    "UPDATE delivery_attempts SET response_body_excerpt = $2 WHERE id = $1",
                    row["id"],
                    SEALED_PREFIX + new,
                )
                done += 1
        if len(rows) < PAYLOAD_BATCH:
            return done, unreadable
        after = rows[-1]["id"]


def _reencrypt(box: SecretBox, token: str, context: str, what: str) -> str:
    try:
        return box.reencrypt(token, context)
    except DecryptionError as exc:
        raise RotationError(f"{what} does not decrypt with any configured key ({exc})") from None
