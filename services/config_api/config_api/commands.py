"""The one-shot commands of ``config-api``: ``migrate`` and ``rotate-secrets-key``.

Each prints one line with what it did and exits 0, or one line with the reason and exits 1.
"""

from __future__ import annotations

import logging
import sys

from config_api.db import create_pool
from config_api.key_rotation import reencrypt_configuration, reencrypt_excerpts, reencrypt_payloads
from config_api.migrations_runner import apply_migrations
from config_api.settings import ConfigApiSettings
from config_api.webhooks.snapshot import Snapshotter
from service_kit.runtime import run
from service_kit.service import EXIT_START_FAILED, describe
from webhook_core.secrets_crypto import SecretBox

logger = logging.getLogger(__name__)


async def run_migrate(settings: ConfigApiSettings) -> list[str]:
    """Apply the migrations not applied yet (waits for a concurrent run: advisory lock)."""
    pool = await create_pool(settings.database_url, settings.db_connect_timeout_s, 1, 1, migrate=False)
    try:
        async with pool.acquire() as conn:
            return await apply_migrations(conn)
    finally:
        await pool.close()


async def run_rotate(settings: ConfigApiSettings) -> str:
    """Re-encrypt every stored secret under the current key and queue the configuration again."""
    box = SecretBox(settings.secrets_keys)
    pool = await create_pool(settings.database_url, settings.db_connect_timeout_s, 1, 2, migrate=False)
    try:
        async with pool.acquire() as conn:
            auth, secrets = await reencrypt_configuration(conn, box)
        payloads, unreadable = await reencrypt_payloads(pool, box)
        excerpts, unreadable_excerpts = await reencrypt_excerpts(pool, box)
        snapshot = Snapshotter(
            pool,
            settings.kafka_bootstrap_servers,
            settings,
            settings.topics.webhooks_config,
            settings.kafka_fetch_max_wait_ms,
        )
        counts = await snapshot.resync()
    finally:
        await pool.close()
    text = (
        f"re-encrypted with key {box.current_key_id}: {auth} auth credential(s), {secrets} signing "
        f"secret(s), {payloads} delivery payload(s), {excerpts} response excerpt(s); queued {counts.webhooks} webhook(s) and "
        f"{counts.priority_rules} priority rule set(s) for publishing on {settings.topics.webhooks_config}"
    )
    if unreadable or unreadable_excerpts:
        text += (
            f"; {unreadable} delivery payload(s) and {unreadable_excerpts} response excerpt(s) decrypt "
            "with no configured key and were left as they are"
        )
    return text


def migrate(settings: ConfigApiSettings) -> None:
    """``config-api migrate``."""
    try:
        applied = run(run_migrate(settings), settings.event_loop, 0)
    except Exception as exc:  # noqa: BLE001 - one line for the operator, the exit code for the Job
        print(f"config-api migrate: failed: {describe(exc)}", file=sys.stderr)  # noqa: T201
        raise SystemExit(EXIT_START_FAILED) from None
    names = ", ".join(applied) if applied else "none (the schema is up to date)"
    print(f"config-api migrate: applied {names}")  # noqa: T201 - the command's answer


def rotate_secrets_key(settings: ConfigApiSettings) -> None:
    """``config-api rotate-secrets-key``."""
    try:
        text = run(run_rotate(settings), settings.event_loop, 0)
    except Exception as exc:  # noqa: BLE001 - one line for the operator
        print(f"config-api rotate-secrets-key: failed: {describe(exc)}", file=sys.stderr)  # noqa: T201
        raise SystemExit(EXIT_START_FAILED) from None
    print(f"config-api rotate-secrets-key: {text}")  # noqa: T201 - the command's answer
