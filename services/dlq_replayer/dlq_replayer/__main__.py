"""``python -m dlq_replayer`` (``dlq-replayer``): the HTTP service, or ``migrate`` (the ``dlq`` CLI is ``dlq_replayer.cli``).

- serve (default): create topics, run until SIGTERM/SIGINT (``service_kit.service``: exit 1 with one
  line when it cannot start, 3 when a loop died); running replays are marked interrupted;
- ``migrate``: create the replayer's tables (and the shared token/audit tables) and exit, for a
  Kubernetes Job or init container; then run the service with ``MIGRATE_ON_START=false``.
"""

from __future__ import annotations

import argparse
import sys

import asyncpg

from dlq_replayer.app import create_app
from dlq_replayer.runtime import create_pool
from dlq_replayer.settings import DlqReplayerSettings
from dlq_replayer.store import ReplayStore
from service_kit.kafka import prepare_topics
from service_kit.logging_setup import configure_logging
from service_kit.runtime import run
from service_kit.service import EXIT_START_FAILED, describe, run_main, run_until_stopped
from service_kit.settings import load_settings


async def _serve(settings: DlqReplayerSettings) -> int:
    return await run_until_stopped(
        create_app(settings),
        settings.loop_exit_grace_s,
        prepare=lambda: prepare_topics(settings.kafka_bootstrap_servers, settings.topics, settings),
    )


async def run_migrate(settings: DlqReplayerSettings) -> None:
    """Create the schema (serialised by an advisory lock: concurrent runs wait for each other)."""
    pool: asyncpg.Pool = await create_pool(settings.database_url)
    try:
        await ReplayStore(pool).ensure_schema()
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the service."""
    parser = argparse.ArgumentParser(prog="dlq-replayer", description="carehooks DLQ replayer service")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    settings = load_settings(DlqReplayerSettings)
    configure_logging("dlq-replayer", settings.log_level, settings.log_json)
    if args.command == "migrate":
        try:
            run(run_migrate(settings), settings.event_loop, 0)
        except Exception as exc:  # noqa: BLE001 - one line for the operator, the exit code for the Job
            print(f"dlq-replayer migrate: failed: {describe(exc)}", file=sys.stderr)  # noqa: T201
            raise SystemExit(EXIT_START_FAILED) from None
        print("dlq-replayer migrate: the schema is up to date")  # noqa: T201 - the command's answer
        return
    run_main("dlq-replayer", _serve(settings), settings.event_loop, settings.gc_gen0_threshold)


if __name__ == "__main__":
    main()
