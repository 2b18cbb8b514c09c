"""``dlq --direct``: the CLI on the replayer's core itself (Kafka and PostgreSQL from this machine).

For hosts without the HTTP service; needs the service's settings (``DATABASE_URL``,
``WEBHOOK_SECRETS_KEY``, ...). The replay runs in this process, so stopping the CLI interrupts it
(resumable with ``dlq --direct replay --resume ID``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer

from dlq_replayer.cli_render import (
    confirm_replay,
    confirm_resume,
    err,
    out,
    print_json,
    progress_bar,
    show_answer,
    show_nothing_left,
    summary,
)
from dlq_replayer.core import DlqCore, ReplayStarted
from dlq_replayer.errors import DlqError, InvalidInputError
from dlq_replayer.filters import DlqFilters
from dlq_replayer.replay import ReplayOptions, ReplayRun
from dlq_replayer.runtime import open_core
from dlq_replayer.settings import DlqReplayerSettings
from dlq_replayer.store import ReplayRecord
from service_kit.logging_setup import configure_logging
from service_kit.settings import load_settings

T = TypeVar("T")


def settings() -> DlqReplayerSettings:
    """The service's settings from the environment (exit 2 naming each bad one)."""
    loaded = load_settings(DlqReplayerSettings)
    if not logging.getLogger().handlers:  # an embedding process (tests) keeps its own logging
        level = "WARNING" if loaded.log_level.upper() == "INFO" else loaded.log_level
        configure_logging("dlq-cli", level, False)  # a CLI prints results; only warnings go to stderr
    return loaded


def run(work: Callable[[DlqCore], Awaitable[T]]) -> T:
    """Run ``work`` against a core; operator errors become one line on stderr and an exit code."""
    loaded = settings()

    async def main() -> T:
        async with open_core(loaded, follow=False, migrate=loaded.migrate_on_start) as runtime:
            return await work(runtime.core)

    try:
        return asyncio.run(main())
    except InvalidInputError as exc:
        raise typer.BadParameter(str(exc)) from None
    except DlqError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None


async def replay(
    core: DlqCore, filters: DlqFilters, options: ReplayOptions, who: str, yes: bool, as_json: bool
) -> ReplayRecord | None:
    """Plan, confirm, record and run a replay in this process."""
    prepared = await core.prepare_replay(filters, options, who)
    if isinstance(prepared, ReplayStarted):
        show_answer(prepared, as_json)
        return None
    if not confirm_replay(prepared.plan, as_json, yes):
        await prepared.abandon()
        raise typer.Exit(1)
    started = await prepared.commit()
    if not as_json:
        out.print(f"replay {started.replay_id} started by {who} at {options.rate:g} msg/s")
    return await _execute(started, as_json)


async def resume(core: DlqCore, replay_id: str, who: str, yes: bool, as_json: bool) -> ReplayRecord:
    """Send what an interrupted replay has not sent yet."""
    if not confirm_resume(await core.get_replay(replay_id), yes):
        raise typer.Exit(1)
    record, started = await core.prepare_resume(replay_id, who)
    if started is None:
        show_nothing_left(record, as_json)
        return record
    return await _execute(started, as_json)


async def _execute(started: ReplayRun, as_json: bool) -> ReplayRecord:
    if as_json:
        done = await started.execute()
        print_json(done)
        return done
    with progress_bar() as bar:
        task = bar.add_task("replay", total=len(started.entries))
        record = await started.execute(lambda done, total: bar.update(task, completed=done, total=total))
    summary(record)
    return record
