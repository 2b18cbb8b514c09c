"""The ``dlq`` command line. By default it talks to the DLQ replayer's HTTP API, so an operator's
machine needs only a URL and a token: ``--url`` / ``CAREHOOKS_DLQ_URL`` (default
``http://127.0.0.1:8083``), ``--token`` / ``CAREHOOKS_TOKEN`` (default: the dev token ``make run``
keeps in ``.run/admin_token``, see ``service_kit.admin_client``). ``--direct`` uses the core on
Kafka and PostgreSQL from this machine instead (the service's settings are then required).

Exit codes: 0 done (also "nothing to replay"), 1 failed / not found / unreachable / some items
failed / confirmation declined, 2 usage error (bad filter, time, id or setting). Typer vendors
its own click, so usage errors are raised as ``typer.BadParameter``.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from dlq_replayer import cli_direct, cli_http
from dlq_replayer.cli_render import (
    messages_table,
    out,
    print_json,
    replay_detail,
    replays_table,
    stats_tables,
)
from dlq_replayer.errors import InvalidInputError
from dlq_replayer.filters import DlqFilters, build_filters, describe_validation_error
from dlq_replayer.replay import ReplayOptions
from dlq_replayer.store import ReplayRecord
from service_kit.admin_client import AdminClient, resolve_token

DEFAULT_URL = "http://127.0.0.1:8083"

app = typer.Typer(
    name="dlq",
    help="Inspect and replay the dead-letter topic (webhooks.deliveries.dlq) through the DLQ replayer's API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@dataclass
class Target:
    """Where the commands go: the HTTP API (client) or, with --direct, the core in this process."""

    client: AdminClient | None = None


TARGET = Target()


@app.callback()
def connect(
    url: Annotated[
        str, typer.Option("--url", envvar="CAREHOOKS_DLQ_URL", help="The DLQ replayer's API.")
    ] = DEFAULT_URL,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="CAREHOOKS_TOKEN",
            help="Operator or admin token (default: .run/admin_token of `make run`, else ADMIN_TOKEN).",
            show_default=False,
        ),
    ] = None,
    direct: Annotated[
        bool, typer.Option("--direct", help="Use Kafka and PostgreSQL directly (needs DATABASE_URL etc.).")
    ] = False,
) -> None:
    """Choose the target of the command."""
    TARGET.client = None if direct else AdminClient(url, resolve_token(token))


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


def _raw_filters(values: dict[str, Any]) -> dict[str, Any]:
    """The filters given, checked here (a usage error exits 2 before anything is asked)."""
    raw = {k: v for k, v in values.items() if k in DlqFilters.model_fields and v is not None}
    if isinstance(raw.get("replayed"), YesNo):
        raw["replayed"] = raw["replayed"].value
    try:
        build_filters(raw)
    except InvalidInputError as exc:
        raise typer.BadParameter(str(exc)) from None
    return raw


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
    raw = _raw_filters(locals())
    if TARGET.client is not None:
        result = cli_http.list_messages(TARGET.client, raw)
    else:
        result = cli_direct.run(lambda core: core.list_messages(build_filters(raw)))
    print_json(result) if as_json else messages_table(result)


@app.command("show")
def show_cmd(
    message_id: Annotated[str, typer.Argument(help="Message id: <partition>-<offset>, e.g. 0-42.")],
    payload: Annotated[bool, typer.Option("--payload", help="Include the body (may hold PHI).")] = False,
    as_json: JsonOut = False,
) -> None:
    """Show one dead letter in full (job, attempts, headers); the body only with --payload."""
    if TARGET.client is not None:
        detail = cli_http.get_message(TARGET.client, message_id, payload)
    else:
        detail = cli_direct.run(lambda core: core.get_message(message_id, payload))
    print_json(detail) if as_json else out.print_json(detail.model_dump_json())


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
    raw = _raw_filters(locals())
    if TARGET.client is not None:
        result = cli_http.stats(TARGET.client, raw)
    else:
        result = cli_direct.run(lambda core: core.stats(build_filters(raw)))
    print_json(result) if as_json else stats_tables(result)


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
    actor: Annotated[
        str | None,
        typer.Option(
            "--actor",
            help="With --direct: who is replaying (default: OS user); over the API: the token's name.",
        ),
    ] = None,
    as_json: JsonOut = False,
) -> None:
    """Republish dead letters to webhooks.deliveries (fresh attempts, same delivery id)."""
    raw = _raw_filters(locals())
    client = TARGET.client
    if actor is not None and client is not None:
        raise typer.BadParameter(
            "--actor needs --direct: over the API the replay is recorded under the token's name"
        )
    who = actor or f"cli:{getpass.getuser()}"
    record: ReplayRecord | None
    if resume is not None:
        if raw or dry_run or force or include_inactive or rate is not None:
            raise typer.BadParameter("--resume takes no filters or options: a replay resumes with its own")
        if client is not None:
            record = cli_http.resume(client, resume, yes, as_json)
        else:
            record = cli_direct.run(lambda core: cli_direct.resume(core, resume, who, yes, as_json))
    else:
        try:
            options = ReplayOptions(
                dry_run=dry_run,
                # over the API an omitted rate is the service's default (the 1.0 only passes validation)
                rate=rate
                if rate is not None
                else 1.0
                if client is not None
                else cli_direct.settings().default_rate,
                include_inactive=include_inactive,
                force=force,
            )
        except ValidationError as exc:
            raise typer.BadParameter(describe_validation_error(exc)) from None
        if client is not None:
            body = {**raw, **options.model_dump()}
            if rate is None:
                del body["rate"]  # the service's own default
            record = cli_http.replay(client, body, yes, as_json)
        else:
            filters = build_filters(raw)
            record = cli_direct.run(lambda core: cli_direct.replay(core, filters, options, who, yes, as_json))
    if record is not None and (record.failed or record.status != "completed"):
        raise typer.Exit(1)


@app.command("replays")
def replays_cmd(
    replay_id: Annotated[str | None, typer.Argument(help="Show one replay.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
    as_json: JsonOut = False,
) -> None:
    """Replays with their progress (selected, replayed, skipped, failed)."""
    client = TARGET.client
    if replay_id is not None:
        if client is not None:
            one = cli_http.get_replay(client, replay_id)
        else:
            one = cli_direct.run(lambda core: core.get_replay(replay_id))
        print_json(one) if as_json else replay_detail(one)
        return
    if client is not None:
        records = cli_http.list_replays(client, limit)
    else:
        records = cli_direct.run(lambda core: core.list_replays(limit))
    print_json(records) if as_json else replays_table(records)


def main() -> None:
    """Entry point of the ``dlq`` console script."""
    app()


if __name__ == "__main__":
    main()
