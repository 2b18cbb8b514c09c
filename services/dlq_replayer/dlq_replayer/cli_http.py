"""The ``dlq`` CLI over the replayer's HTTP API (the default): only a URL and a token are needed.

The answers are read into the same models the service serialises, so ``--json`` prints exactly
what the API answered and the tables are the same as with ``--direct``. A replay runs in the
service: the CLI confirms the plan (a dry run), starts it, and follows its progress by polling
``GET /dlq/replays/{id}``; stopping the CLI does not stop the replay.
"""

from __future__ import annotations

import time
from typing import Any

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
from dlq_replayer.core import MessageDetail, MessageList, ReplayStarted
from dlq_replayer.selection import DlqStats
from dlq_replayer.store import ReplayRecord
from service_kit.admin_client import AdminApiError, AdminClient

POLL_S = 0.5


def call(client: AdminClient, method: str, path: str, **kw: Any) -> Any:
    """One request; the server's message on stderr and exit 2 (bad input) or 1 (anything else)."""
    try:
        return client.request(method, path, **kw)
    except AdminApiError as exc:
        if exc.status == 422:
            raise typer.BadParameter(exc.message) from None
        err.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(1) from None


def list_messages(client: AdminClient, filters: dict[str, Any]) -> MessageList:
    """``GET /dlq/messages``."""
    return MessageList.model_validate(call(client, "GET", "/dlq/messages", query=filters))


def get_message(client: AdminClient, message_id: str, payload: bool) -> MessageDetail:
    """``GET /dlq/messages/{id}``."""
    path = f"/dlq/messages/{message_id}"
    return MessageDetail.model_validate(call(client, "GET", path, query={"payload": payload}))


def stats(client: AdminClient, filters: dict[str, Any]) -> DlqStats:
    """``GET /dlq/stats``."""
    return DlqStats.model_validate(call(client, "GET", "/dlq/stats", query=filters))


def get_replay(client: AdminClient, replay_id: str) -> ReplayRecord:
    """``GET /dlq/replays/{id}``."""
    return ReplayRecord.model_validate(call(client, "GET", f"/dlq/replays/{replay_id}"))


def list_replays(client: AdminClient, limit: int) -> list[ReplayRecord]:
    """``GET /dlq/replays``."""
    return [
        ReplayRecord.model_validate(r) for r in call(client, "GET", "/dlq/replays", query={"limit": limit})
    ]


def replay(client: AdminClient, body: dict[str, Any], yes: bool, as_json: bool) -> ReplayRecord | None:
    """Dry run, confirm, start (``POST /dlq/replays``), then follow the replay to its end."""
    planned = ReplayStarted.model_validate(
        call(client, "POST", "/dlq/replays", body={**body, "dry_run": True})
    )
    if body.get("dry_run") or planned.plan.to_replay == 0:
        # without --dry-run, the service words "nothing to replay" itself (and records nothing)
        answer = planned if body.get("dry_run") else call(client, "POST", "/dlq/replays", body=body)
        show_answer(ReplayStarted.model_validate(answer), as_json)
        return None
    if not confirm_replay(planned.plan, as_json, yes):
        raise typer.Exit(1)
    started = ReplayStarted.model_validate(call(client, "POST", "/dlq/replays", body=body))
    if started.replay_id is None:  # the dead letters changed meanwhile
        show_answer(started, as_json)
        return None
    if not as_json:
        out.print(f"replay {started.replay_id} started at {body.get('rate', 'the default rate')} msg/s")
    return follow(client, started.replay_id, as_json)


def resume(client: AdminClient, replay_id: str, yes: bool, as_json: bool) -> ReplayRecord:
    """``POST /dlq/replays/{id}/resume`` after a confirmation, then follow it."""
    if not confirm_resume(get_replay(client, replay_id), yes):
        raise typer.Exit(1)
    answer = call(client, "POST", f"/dlq/replays/{replay_id}/resume")
    if "resuming" not in answer:
        record = ReplayRecord.model_validate(answer)
        show_nothing_left(record, as_json)
        return record
    return follow(client, replay_id, as_json)


def follow(client: AdminClient, replay_id: str, as_json: bool) -> ReplayRecord:
    """Poll the replay until it is no longer running (a progress bar on a terminal)."""
    record = get_replay(client, replay_id)
    try:
        if as_json:
            while record.status == "running":
                time.sleep(POLL_S)
                record = get_replay(client, replay_id)
            print_json(record)
            return record
        with progress_bar() as bar:
            task = bar.add_task("replay", total=record.selected)
            while True:
                bar.update(task, completed=record.selected - record.pending, total=record.selected)
                if record.status != "running":
                    break
                time.sleep(POLL_S)
                record = get_replay(client, replay_id)
    except KeyboardInterrupt:
        err.print(f"stopped following; the replay goes on in the service: dlq replays {replay_id}")
        raise typer.Exit(130) from None
    summary(record)
    return record
