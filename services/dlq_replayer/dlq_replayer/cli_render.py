"""What the ``dlq`` CLI prints: tables, the replay summary and progress bar, JSON, confirmations."""

from __future__ import annotations

from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from dlq_replayer.core import MessageList, ReplayStarted
from dlq_replayer.selection import DlqStats, ReplayPlan
from dlq_replayer.store import ReplayRecord

out = Console(soft_wrap=True)
err = Console(stderr=True)


def print_json(model: BaseModel | list[Any]) -> None:
    """The model as the HTTP API answers it."""
    if isinstance(model, list):
        out.print("[" + ",".join(m.model_dump_json() for m in model) + "]", markup=False, highlight=False)
    else:
        out.print(model.model_dump_json(), markup=False, highlight=False)


def messages_table(result: MessageList) -> None:
    """``dlq list`` as a table."""
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


def stats_tables(result: DlqStats) -> None:
    """``dlq stats`` as tables."""
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


def plan_table(plan: ReplayPlan) -> Table:
    """What a replay would send, per webhook."""
    table = Table(title="replay plan")
    table.add_column("webhook")
    table.add_column("to replay", justify="right")
    for webhook_id, count in plan.by_webhook.items():
        table.add_row(webhook_id, str(count))
    return table


def summary(record: ReplayRecord) -> None:
    """A replay's counts (and its error, if any)."""
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


def replays_table(records: list[ReplayRecord]) -> None:
    """``dlq replays`` as a table."""
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


def replay_detail(one: ReplayRecord) -> None:
    """``dlq replays ID``."""
    out.print(f"requested by {one.requested_by} at {one.created_at.isoformat(timespec='seconds')}")
    out.print(f"filters {one.filters}  options {one.options}", markup=False)
    summary(one)


def progress_bar() -> Progress:
    """The replay's progress on stderr (stdout stays clean for the summary)."""
    return Progress(
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


def confirm(question: str) -> bool:
    """Ask; anything but yes (or no terminal) is no."""
    try:
        return typer.confirm(question, default=False)
    except typer.Abort:
        return False


def show_answer(answer: ReplayStarted, as_json: bool) -> None:
    """A dry run's plan, or "nothing to replay"."""
    if as_json:
        print_json(answer)
        return
    if answer.plan.to_replay:
        out.print(plan_table(answer.plan))
    out.print(answer.message)


def confirm_replay(plan: ReplayPlan, as_json: bool, yes: bool) -> bool:
    """Show the plan (on a terminal) and ask unless ``yes``."""
    if not as_json:
        out.print(plan_table(plan))
        out.print(
            f"{plan.selected} selected, {plan.to_replay} to replay, {plan.selected - plan.to_replay} skipped"
        )
    if yes or confirm(f"Replay {plan.to_replay} message(s) to {len(plan.by_webhook)} webhook(s)?"):
        return True
    err.print("aborted: nothing was replayed or recorded")
    return False


def confirm_resume(record: ReplayRecord, yes: bool) -> bool:
    """Ask before sending what an interrupted replay left (nothing to ask when nothing is left)."""
    left = record.pending + record.failed
    if not left or yes or confirm(f"Resume replay {record.id}: send the {left} message(s) not sent yet?"):
        return True
    err.print("aborted: nothing was sent")
    return False


def show_nothing_left(record: ReplayRecord, as_json: bool) -> None:
    """A resume that had nothing to send."""
    if as_json:
        print_json(record)
    else:
        out.print(f"replay {record.id} has nothing left to send")
        summary(record)
