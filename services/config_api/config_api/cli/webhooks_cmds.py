"""``carehooks webhooks ...``: list, get, create, update, delete, test, logs, status, recover, secret rotate."""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from config_api.cli.output import (
    JsonOut,
    call,
    err,
    fields,
    moment,
    out,
    page,
    parse_json,
    print_json,
    table,
)

app = typer.Typer(help="Webhooks of an integration.", no_args_is_help=True)
secret_app = typer.Typer(help="The signing secret.", no_args_is_help=True)
app.add_typer(secret_app, name="secret")

Integration = Annotated[str, typer.Argument(help="Integration id, e.g. surveymonkey or ehr.")]
WebhookId = Annotated[str, typer.Argument(help="Webhook id (wh_...).")]
Since = Annotated[str | None, typer.Option("--since", help="ISO time or relative (30m, 2h, 7d).")]
Until = Annotated[str | None, typer.Option("--until", help="ISO time or relative (30m, 2h, 7d).")]

_COLUMNS = ("id", "name", "subscription_url", "event_types", "active", "priority")
_DETAIL = (
    "id", "integration_id", "name", "description", "subscription_url", "event_types", "object_types", "object_ids",
    "filter", "criteria", "priority", "auth", "retry_policy", "timeout_ms", "max_in_flight",
    "rate_limit_per_s", "active", "deactivated_reason", "version", "created_at", "updated_at",
)  # fmt: skip
POLL_S = 0.5


def base(integration: str, webhook: str | None = None) -> str:
    """The API path of an integration's webhooks (or of one)."""
    path = f"/admin/integration/{quote(integration, safe='')}/webhooks"
    return path if webhook is None else f"{path}/{quote(webhook, safe='')}"


@app.command("list")
def list_cmd(
    integration: Integration,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="Only active or inactive.")
    ] = None,
    event_type: Annotated[str | None, typer.Option("--event-type")] = None,
    search: Annotated[
        str | None, typer.Option("--search", help="Text in the name, description or URL.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200)] = 50,
    cursor: Annotated[str | None, typer.Option("--cursor", help="next_cursor of the previous page.")] = None,
    as_json: JsonOut = False,
) -> None:
    """The integration's webhooks, oldest first."""
    query = {"active": active, "event_type": event_type, "q": search, "limit": limit, "cursor": cursor}
    data = call("GET", base(integration), query=query)
    page(data, _COLUMNS, f"{data['total']} webhook(s) of {integration}", as_json)


@app.command("get")
def get_cmd(integration: Integration, webhook: WebhookId, as_json: JsonOut = False) -> None:
    """One webhook's configuration (credentials shown as hints only)."""
    data = call("GET", base(integration, webhook))
    print_json(data) if as_json else fields(data, _DETAIL)


def _body(file: str | None, settings: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if file is not None:
        try:
            text = typer.get_text_stream("stdin").read() if file == "-" else open(file).read()  # noqa: SIM115
        except OSError as exc:
            raise typer.BadParameter(str(exc), param_hint="--file") from None
        loaded = parse_json(text, "--file")
        if not isinstance(loaded, dict):
            raise typer.BadParameter("must hold a JSON object", param_hint="--file")
        body.update(loaded)
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not FIELD=JSON", param_hint="--set")
        try:
            body[key] = parse_json(value, "--set")
        except typer.BadParameter:
            body[key] = value  # a bare string: --set name=billing
    return body


File = Annotated[str | None, typer.Option("--file", "-f", help="JSON body (a file, or - for stdin).")]
Set = Annotated[
    list[str] | None, typer.Option("--set", help="FIELD=JSON, repeatable, e.g. --set timeout_ms=5000.")
]


@app.command("create")
def create_cmd(
    integration: Integration,
    url: Annotated[str | None, typer.Option("--url", help="Subscription URL.")] = None,
    event_type: Annotated[list[str] | None, typer.Option("--event-type", "-e", help="Repeatable.")] = None,
    name: Annotated[str | None, typer.Option("--name")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    file: File = None,
    settings: Set = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Send a signed verification request first.")
    ] = False,
    as_json: JsonOut = False,
) -> None:
    """Create a webhook; the answer holds its signing secret, shown this once."""
    body = _body(file, settings or [])
    given = (
        ("subscription_url", url),
        ("event_types", event_type),
        ("name", name),
        ("description", description),
    )
    body.update({k: v for k, v in given if v})
    data = call("POST", base(integration), body=body, query={"verify": verify or None})
    if as_json:
        print_json(data)
        return
    fields(data, _DETAIL, title="webhook created")
    out.print(f"signing secret (shown once): {data.get('signing_secret')}", markup=False, highlight=False)


@app.command("update")
def update_cmd(
    integration: Integration,
    webhook: WebhookId,
    url: Annotated[str | None, typer.Option("--url")] = None,
    name: Annotated[str | None, typer.Option("--name")] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="Re-activate or deactivate.")
    ] = None,
    file: File = None,
    settings: Set = None,
    as_json: JsonOut = False,
) -> None:
    """Change some fields (PATCH): flags, --set FIELD=JSON, or a JSON --file."""
    body = _body(file, settings or [])
    body.update(
        {k: v for k, v in (("subscription_url", url), ("name", name), ("active", active)) if v is not None}
    )
    if not body:
        raise typer.BadParameter(
            "nothing to change: give --url, --name, --active/--inactive, --set or --file"
        )
    data = call("PATCH", base(integration, webhook), body=body)
    print_json(data) if as_json else fields(data, _DETAIL, title="webhook updated")


@app.command("delete")
def delete_cmd(
    integration: Integration,
    webhook: WebhookId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    as_json: JsonOut = False,
) -> None:
    """Delete a webhook (its delivery logs stay for the retention period)."""
    if not yes and not typer.confirm(f"Delete webhook {webhook}?", default=False):
        err.print("aborted: nothing was deleted")
        raise typer.Exit(1)
    call("DELETE", base(integration, webhook))
    print_json({"deleted": webhook}) if as_json else out.print(f"webhook {webhook} deleted", highlight=False)


@app.command("test")
def send_test_cmd(
    integration: Integration,
    webhook: WebhookId,
    event_type: Annotated[
        str | None, typer.Option("--event-type", help="Default: the first one subscribed.")
    ] = None,
    as_json: JsonOut = False,
) -> None:
    """Send a signed sample event now and show the receiver's answer (exit 1 if it failed)."""
    body = {"webhook_id": webhook, **({"event_type": event_type} if event_type else {})}
    data = call("POST", f"/admin/integration/{quote(integration, safe='')}/webhooks/test", body=body)
    if as_json:
        print_json(data)
    else:
        fields(data, ("success", "status_code", "response_ms", "error_category", "error", "response_body"))
    if not data.get("success"):
        raise typer.Exit(1)


@app.command("logs")
def logs_cmd(
    integration: Integration,
    webhook: WebhookId,
    outcome: Annotated[str | None, typer.Option("--outcome", help="succeeded, failed, retrying, ...")] = None,
    delivery: Annotated[str | None, typer.Option("--delivery", help="Every attempt of one delivery.")] = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200)] = 50,
    cursor: Annotated[str | None, typer.Option("--cursor")] = None,
    as_json: JsonOut = False,
) -> None:
    """Delivery attempts, newest first."""
    query = {
        "outcome": outcome,
        "delivery_id": delivery,
        "since": moment(since, "--since"),
        "until": moment(until, "--until"),
        "limit": limit,
        "cursor": cursor,
    }
    data = call("GET", f"{base(integration, webhook)}/logs", query=query)
    columns = (
        "attempted_at",
        "delivery_id",
        "event_type",
        "attempt",
        "outcome",
        "status_code",
        "error_category",
    )
    page(data, columns, f"{len(data['items'])} attempt(s)", as_json)


@app.command("status")
def status_cmd(
    integration: Integration,
    webhook: WebhookId,
    window: Annotated[str, typer.Option("--window", help="1h, 24h or 7d.")] = "24h",
    as_json: JsonOut = False,
) -> None:
    """Health and figures over a window, with failures by status code and error category."""
    data = call("GET", f"{base(integration, webhook)}/status", query={"window": window})
    if as_json:
        print_json(data)
        return
    keys = (
        "active", "deactivated_reason", "window", "attempts", "succeeded", "failed", "success_rate", "p50_ms",
        "p95_ms", "dead_lettered", "pending_retries", "consecutive_failures", "failing_since", "last_error",
    )  # fmt: skip
    fields(data, keys, title=f"status of {webhook}")
    if data.get("status_codes"):
        table(data["status_codes"], ("status_code", "count"), title="by status code")
    if data.get("error_categories"):
        table(data["error_categories"], ("error_category", "count"), title="by error category")


_RECOVERY = ("id", "state", "total", "sent", "skipped", "already_recovered", "pending", "error")


@app.command("recover")
def recover_cmd(
    integration: Integration,
    webhook: WebhookId,
    since: Annotated[str, typer.Option("--since", help="ISO time or relative (30m, 2h, 7d).")],
    until: Until = None,
    outcome: Annotated[
        str | None, typer.Option("--outcome", help="failed or dead_lettered (default both).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Also deliveries an earlier recovery sent.")] = False,
    rate: Annotated[float | None, typer.Option("--rate", help="Deliveries per second.")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the progress until it ends.")] = True,
    as_json: JsonOut = False,
) -> None:
    """Send again, once each, the webhook's failed deliveries since a time (after a receiver's outage)."""
    body = {
        "since": moment(since, "--since"),
        "until": moment(until, "--until"),
        "outcome": outcome,
        "force": force,
        "rate_per_s": rate,
    }
    recovery = call("POST", f"{base(integration, webhook)}/recover", body=body)
    if wait and recovery["state"] == "running":
        recovery = _follow(recovery, quiet=as_json)
    if as_json:
        print_json(recovery)
    else:
        fields(recovery, _RECOVERY, title="recovery")
        out.print(f"progress: {recovery['progress_url']}", highlight=False)
    if recovery["state"] == "failed":
        raise typer.Exit(1)


def _follow(recovery: dict[str, Any], quiet: bool) -> dict[str, Any]:
    progress = Progress(
        TextColumn("recovering"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
    )
    try:
        with progress:
            task = progress.add_task("recover", total=recovery["total"], visible=not quiet)
            while recovery["state"] == "running":
                time.sleep(POLL_S)
                recovery = call("GET", recovery["progress_url"])
                progress.update(task, completed=recovery["total"] - recovery["pending"])
    except KeyboardInterrupt:
        err.print(f"stopped following; the recovery goes on in the service: {recovery['progress_url']}")
        raise typer.Exit(130) from None
    return recovery


@app.command("recovery")
def recovery_cmd(
    integration: Integration, webhook: WebhookId, recovery_id: str, as_json: JsonOut = False
) -> None:
    """One recovery's progress."""
    data = call("GET", f"{base(integration, webhook)}/recoveries/{quote(recovery_id, safe='')}")
    print_json(data) if as_json else fields(data, _RECOVERY, title="recovery")


@secret_app.command("rotate")
def rotate_cmd(
    integration: Integration,
    webhook: WebhookId,
    grace: Annotated[int | None, typer.Option("--grace", help="Seconds the old secret stays valid.")] = None,
    as_json: JsonOut = False,
) -> None:
    """A new signing secret; the old one keeps verifying for the grace period."""
    body = {} if grace is None else {"grace_period_s": grace}
    data = call("POST", f"{base(integration, webhook)}/secret/rotate", body=body)
    if as_json:
        print_json(data)
        return
    out.print("secret rotated; the new secret is returned once:", highlight=False)
    print_json(data)
