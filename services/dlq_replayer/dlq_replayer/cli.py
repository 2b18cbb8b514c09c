"""The ``dlq`` command line: the same core as the HTTP service, used directly (Kafka + PostgreSQL).

Exit codes: 0 done (also "nothing to replay"), 1 failed / not found / unreachable / some items
failed / confirmation declined, 2 usage error (bad filter, time, id or setting). Typer vendors
its own click, so usage errors are raised as ``typer.BadParameter``.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from dlq_replayer.core import DlqCore, MessageDetail, MessageList, ReplayStarted
from dlq_replayer.errors import DlqError, InvalidInputError
from dlq_replayer.filters import DlqFilters, build_filters, describe_validation_error
from dlq_replayer.replay import ReplayOptions, ReplayRun
from dlq_replayer.runtime import open_core
from dlq_replayer.selection import DlqStats, ReplayPlan
from dlq_replayer.settings import DlqReplayerSettings
from dlq_replayer.store import ReplayRecord
from service_kit.logging_setup import configure_logging
from service_kit.settings import load_settings

app = typer.Typer(
    name="dlq",
    help="Inspect and replay the dead-letter topic (webhooks.deliveries.dlq).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True)
T = TypeVar("T")


class YesNo(StrEnum):
    """--replayed values."""

    yes = "yes"
    no = "no"


Integration = Annotated[str | None, typer.Option("--integration", help="Integration id.")]
Webhook = Annotated[str | None, typer.Option("--webhook", help="Webhook id.")]
EventType = Annotated[str | None, typer.Option("--event-type", help="Event type, e.g. response_completed.")]
ErrorCategory = Annotated[str | None, typer.Option("--error-category", help="e.g. http_5xx, timeout.")]
Since = Annotated[str | None, typer.Option("--since", help="ISO time or relative (30m, 2h, 7d).")]
Until = Annotated[str | None, typer.Option("--until", help="ISO time or relative (30m, 2h, 7d).")]
Replayed = Annotated[
    YesNo | None, typer.Option("--replayed", help="Only replayed (yes) or never replayed (no).")
]
Limit = Annotated[int | None, typer.Option("--limit", min=1, help="At most this many, newest first.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON (the HTTP API's answer).")]


def _filters(**raw: Any) -> DlqFilters:
    if isinstance(raw.get("replayed"), YesNo):
        raw["replayed"] = raw["replayed"].value
    try:
        return build_filters(raw)
    except InvalidInputError as exc:
        raise typer.BadParameter(str(exc)) from None


def _settings() -> DlqReplayerSettings:
    settings = load_settings(DlqReplayerSettings)
    if not logging.getLogger().handlers:  # an embedding process (tests) keeps its own logging
        level = "WARNING" if settings.log_level.upper() == "INFO" else settings.log_level
        configure_logging("dlq-cli", level, False)  # a CLI prints results; only warnings go to stderr
    return settings


def _run(work: Callable[[DlqCore], Awaitable[T]]) -> T:
    """Run ``work`` against a core; operator errors become one line on stderr and an exit code."""
    settings = _settings()

    async def main() -> T:
        async with open_core(settings, follow=False, migrate=settings.migrate_on_start) as runtime:
            return await work(runtime.core)

    try:
        return asyncio.run(main())
    except InvalidInputError as exc:
        raise typer.BadParameter(str(exc)) from None
    except DlqError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None


def _print_json(model: BaseModel | list[Any]) -> None:
    if isinstance(model, list):
        out.print("[" + ",".join(m.model_dump_json() for m in model) + "]", markup=False, highlight=False)
    else:
        out.print(model.model_dump_json(), markup=False, highlight=False)


@app.command("list")
def list_cmd(
    integration: Integration = None,
    webhook: Webhook = None,
    event_type: EventType = None,
    error_category: ErrorCategory = None,
    since: Since = None,
    until: Until = None,
    replayed: Replayed = None,
    limit: Limit = None,
    as_json: JsonOut = False,
) -> None:
    """List dead letters, newest first."""
    filters = _filters(**_locals_filters(locals()))
    result: MessageList = _run(lambda core: core.list_messages(filters))
    if as_json:
        _print_json(result)
        return
    table = Table(title=f"{result.count} dead letter(s)")
    for column in (
        "id",
        "dead-lettered at",
        "integration",
        "webhook",
        "event type",
        "delivery id",
        "attempts",
    ):
        table.add_column(column)
    table.add_column("last error")
    table.add_column("replayed")
    for row in result.messages:
        last = f"{row.last_error_category or '-'} {row.last_status_code or ''}".strip()
        table.add_row(
            row.id,
            row.dead_lettered_at.isoformat(timespec="seconds"),
            row.integration_id,
            row.webhook_id,
            row.event_type,
            row.delivery_id,
            str(row.attempts),
            last,
            f"yes ({row.last_replay_id})" if row.replayed else "no",
        )
    out.print(table)
    if result.invalid_records:
        err.print(f"{result.invalid_records} unparseable record(s) on the topic were left out")


def _locals_filters(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k in DlqFilters.model_fields}


@app.command("show")
def show_cmd(
    message_id: Annotated[str, typer.Argument(help="Message id: <partition>-<offset>, e.g. 0-42.")],
    payload: Annotated[bool, typer.Option("--payload", help="Include the body (may hold PHI).")] = False,
    as_json: JsonOut = False,
) -> None:
    """Show one dead letter in full (job, attempts, headers); the body only with --payload."""
    detail: MessageDetail = _run(lambda core: core.get_message(message_id, payload))
    if as_json:
        _print_json(detail)
        return
    out.print_json(detail.model_dump_json())


@app.command("stats")
def stats_cmd(
    integration: Integration = None,
    webhook: Webhook = None,
    event_type: EventType = None,
    error_category: ErrorCategory = None,
    since: Since = None,
    until: Until = None,
    as_json: JsonOut = False,
) -> None:
    """Counts by integration, webhook and error category over a window."""
    filters = _filters(**_locals_filters(locals()))
    result: DlqStats = _run(lambda core: core.stats(filters))
    if as_json:
        _print_json(result)
        return
    out.print(f"{result.total} dead letter(s)")
    for title, counts in (
        ("integration", result.by_integration),
        ("webhook", result.by_webhook),
        ("error category", result.by_error_category),
    ):
        table = Table(title=f"by {title}")
        table.add_column(title)
        table.add_column("count", justify="right")
        for key, value in counts.items():
            table.add_row(key, str(value))
        out.print(table)


def _plan_table(plan: ReplayPlan) -> Table:
    table = Table(title="replay plan")
    table.add_column("webhook")
    table.add_column("to replay", justify="right")
    for webhook_id, count in plan.by_webhook.items():
        table.add_row(webhook_id, str(count))
    return table


def _summary(record: ReplayRecord) -> None:
    table = Table(title=f"replay {record.id}: {record.status}")
    for column in ("selected", "replayed", "skipped", "failed", "pending"):
        table.add_column(column, justify="right")
    table.add_row(
        str(record.selected),
        str(record.replayed),
        str(record.skipped),
        str(record.failed),
        str(record.pending),
    )
    out.print(table)
    if record.error:
        err.print(f"[yellow]{record.error}[/yellow]", highlight=False)


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


@app.command("replay")
def replay_cmd(
    integration: Integration = None,
    webhook: Webhook = None,
    event_type: EventType = None,
    error_category: ErrorCategory = None,
    since: Since = None,
    until: Until = None,
    replayed: Replayed = None,
    limit: Limit = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would be replayed.")] = False,
    rate: Annotated[float | None, typer.Option("--rate", help="Messages per second (default 50).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    include_inactive: Annotated[
        bool, typer.Option("--include-inactive", help="Also inactive webhooks.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replay again what was already replayed.")] = False,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Resume an interrupted replay by id.")
    ] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Who is replaying (default: OS user).")] = None,
    as_json: JsonOut = False,
) -> None:
    """Republish dead letters to webhooks.deliveries (fresh attempts, same delivery id)."""
    who = actor or f"cli:{getpass.getuser()}"
    record: ReplayRecord | None
    if resume is not None:
        given = [k for k, v in _locals_filters(locals()).items() if v is not None]
        if given or dry_run or force or include_inactive or rate is not None:
            raise typer.BadParameter("--resume takes no filters or options: a replay resumes with its own")
        record = _run(lambda core: _resume(core, resume, who, yes, as_json))
    else:
        filters = _filters(**_locals_filters(locals()))
        try:
            options = ReplayOptions(
                dry_run=dry_run,
                rate=rate if rate is not None else _settings().default_rate,
                include_inactive=include_inactive,
                force=force,
            )
        except ValidationError as exc:
            raise typer.BadParameter(describe_validation_error(exc)) from None
        record = _run(lambda core: _replay(core, filters, options, who, yes, as_json))
    if record is not None and (record.failed or record.status != "completed"):
        raise typer.Exit(1)


async def _replay(
    core: DlqCore, filters: DlqFilters, options: ReplayOptions, who: str, yes: bool, as_json: bool
) -> ReplayRecord | None:
    prepared = await core.prepare_replay(filters, options, who)
    if isinstance(prepared, ReplayStarted):
        if as_json:
            _print_json(prepared)
        else:
            if prepared.plan.to_replay:
                out.print(_plan_table(prepared.plan))
            out.print(prepared.message)
        return None
    plan = prepared.plan
    if not as_json:
        out.print(_plan_table(plan))
        skipped = plan.selected - plan.to_replay
        out.print(f"{plan.selected} selected, {plan.to_replay} to replay, {skipped} skipped")
    if not yes and not _confirm(f"Replay {plan.to_replay} message(s) to {len(plan.by_webhook)} webhook(s)?"):
        await prepared.abandon()
        err.print("aborted: nothing was replayed or recorded")
        raise typer.Exit(1)
    run = await prepared.commit()
    if not as_json:
        out.print(f"replay {run.replay_id} started by {who} at {options.rate:g} msg/s")
    return await _execute(run, as_json)


async def _resume(core: DlqCore, replay_id: str, who: str, yes: bool, as_json: bool) -> ReplayRecord:
    before = await core.get_replay(replay_id)
    left = before.pending + before.failed
    if (
        left
        and not yes
        and not _confirm(f"Resume replay {replay_id}: send the {left} message(s) not sent yet?")
    ):
        err.print("aborted: nothing was sent")
        raise typer.Exit(1)
    record, run = await core.prepare_resume(replay_id, who)
    if run is None:
        if as_json:
            _print_json(record)
        else:
            out.print(f"replay {replay_id} has nothing left to send")
            _summary(record)
        return record
    return await _execute(run, as_json)


async def _execute(run: ReplayRun, as_json: bool) -> ReplayRecord:
    if as_json:
        done = await run.execute()
        _print_json(done)
        return done
    with _progress_bar() as bar:
        task = bar.add_task("replay", total=len(run.entries))
        record = await run.execute(lambda done, total: bar.update(task, completed=done, total=total))
    _summary(record)
    return record


def _confirm(question: str) -> bool:
    try:
        return typer.confirm(question, default=False)
    except typer.Abort:
        return False


@app.command("replays")
def replays_cmd(
    replay_id: Annotated[str | None, typer.Argument(help="Show one replay.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
    as_json: JsonOut = False,
) -> None:
    """Replays with their progress (selected, replayed, skipped, failed)."""
    if replay_id is not None:
        one: ReplayRecord = _run(lambda core: core.get_replay(replay_id))
        if as_json:
            _print_json(one)
        else:
            out.print(f"requested by {one.requested_by} at {one.created_at.isoformat(timespec='seconds')}")
            out.print(f"filters {one.filters}  options {one.options}", markup=False)
            _summary(one)
        return
    records: list[ReplayRecord] = _run(lambda core: core.list_replays(limit))
    if as_json:
        _print_json(records)
        return
    table = Table(title=f"{len(records)} replay(s)")
    for column in ("id", "created", "by", "status", "selected", "replayed", "skipped", "failed", "pending"):
        table.add_column(column, overflow="fold")
    for r in records:
        table.add_row(
            r.id,
            r.created_at.isoformat(timespec="seconds"),
            r.requested_by,
            r.status,
            str(r.selected),
            str(r.replayed),
            str(r.skipped),
            str(r.failed),
            str(r.pending),
        )
    out.print(table)


def main() -> None:
    """Entry point of the ``dlq`` console script."""
    app()


if __name__ == "__main__":
    main()
