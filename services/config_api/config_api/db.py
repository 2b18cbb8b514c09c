"""The asyncpg pool: connect with retries while PostgreSQL is down, then (unless told not to) apply migrations."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import asyncpg

from config_api.migrations_runner import apply_migrations

logger = logging.getLogger(__name__)


def _encode_json(value: object) -> str:
    # Text is passed through: admin_auth.record_audit hands over JSON it serialised itself.
    return value if isinstance(value, str) else json.dumps(value)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb columns come back as Python objects; values go in as Python objects or JSON text.
    await conn.set_type_codec("jsonb", encoder=_encode_json, decoder=json.loads, schema="pg_catalog")


async def create_pool(
    dsn: str, timeout_s: float, min_size: int = 1, max_size: int = 10, migrate: bool = True
) -> asyncpg.Pool:
    """Open the pool, retrying while the server is unreachable, and migrate the schema (``migrate``)."""
    deadline = time.monotonic() + timeout_s
    delay = 0.2
    while True:
        try:
            pool: asyncpg.Pool = await asyncpg.create_pool(
                dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=30
            )
            break
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.PostgresConnectionError) as exc:
            if time.monotonic() >= deadline:
                raise ConnectionError(f"PostgreSQL unreachable after {timeout_s:.0f}s: {exc}") from exc
            logger.warning("PostgreSQL not reachable yet, retrying", extra={"error": type(exc).__name__})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
    if not migrate:  # MIGRATE_ON_START=false: a `config-api migrate` Job ran before
        return pool
    try:
        async with pool.acquire() as conn:
            await apply_migrations(conn)
    except BaseException:
        await pool.close()
        raise
    return pool
