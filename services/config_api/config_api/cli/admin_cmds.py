"""``carehooks integrations ...``, ``carehooks deliveries search`` and ``carehooks tokens ...``."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer

from config_api.cli.output import JsonOut, call, err, fields, moment, out, page, print_json, table

integrations = typer.Typer(help="Integrations (SurveyMonkey, FHIR, custom).", no_args_is_help=True)
deliveries = typer.Typer(help="Deliveries across an integration.", no_args_is_help=True)
tokens = typer.Typer(help="API tokens (admin).", no_args_is_help=True)


@integrations.command("list")
def integrations_list(as_json: JsonOut = False) -> None:
    """Integrations with their webhook counts."""
    data = call("GET", "/admin/integrations")
    if as_json:
        print_json(data)
        return
    columns = ("id", "type", "name", "webhook_count", "active_webhook_count", "failing_webhook_count")
    table(data["items"], columns, title=f"{len(data['items'])} integration(s)")


@integrations.command("get")
def integrations_get(integration: str, as_json: JsonOut = False) -> None:
    """One integration."""
    data = call("GET", f"/admin/integration/{quote(integration, safe='')}")
    print_json(data) if as_json else fields(data)


@deliveries.command("search")
def deliveries_search(
    integration: Annotated[str, typer.Argument(help="Integration id.")],
    event_id: Annotated[str | None, typer.Option("--event-id")] = None,
    object_id: Annotated[str | None, typer.Option("--object-id", help="e.g. a FHIR resource id.")] = None,
    delivery_id: Annotated[
        str | None, typer.Option("--delivery-id", help="The webhook-id a receiver saw.")
    ] = None,
    webhook: Annotated[str | None, typer.Option("--webhook", help="Webhook id.")] = None,
    outcome: Annotated[str | None, typer.Option("--outcome", help="Of the latest attempt.")] = None,
    event_type: Annotated[str | None, typer.Option("--event-type")] = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO time or relative (30m, 2h, 7d).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="ISO time or relative.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=200)] = 50,
    cursor: Annotated[str | None, typer.Option("--cursor")] = None,
    as_json: JsonOut = False,
) -> None:
    """Deliveries, newest first, each with its latest attempt: did this event reach every webhook?"""
    query = {
        "event_id": event_id,
        "object_id": object_id,
        "delivery_id": delivery_id,
        "webhook_id": webhook,
        "outcome": outcome,
        "event_type": event_type,
        "since": moment(since, "--since"),
        "until": moment(until, "--until"),
        "limit": limit,
        "cursor": cursor,
    }
    data = call("GET", f"/admin/integration/{quote(integration, safe='')}/deliveries", query=query)
    columns = (
        "first_attempt_at", "delivery_id", "webhook_name", "event_type", "object_id", "attempt", "outcome",
        "status_code", "error_category", "recovered_from",
    )  # fmt: skip
    page(data, columns, f"{len(data['items'])} deliver(y/ies)", as_json)


@tokens.command("list")
def tokens_list(as_json: JsonOut = False) -> None:
    """API tokens (never their values)."""
    data = call("GET", "/admin/tokens")
    if as_json:
        print_json(data)
        return
    columns = ("id", "name", "role", "integration_ids", "created_by", "created_at", "revoked_at")
    table(data["items"], columns, title=f"{len(data['items'])} token(s)")


@tokens.command("create")
def tokens_create(
    name: Annotated[str, typer.Option("--name")],
    role: Annotated[str, typer.Option("--role", help="viewer, operator or admin.")],
    integration: Annotated[
        list[str] | None, typer.Option("--integration", help="Limit to this integration (repeatable).")
    ] = None,
    as_json: JsonOut = False,
) -> None:
    """A new token; its value is shown this once."""
    data = call(
        "POST", "/admin/tokens", body={"name": name, "role": role, "integration_ids": integration or None}
    )
    if as_json:
        print_json(data)
        return
    fields(data, ("id", "name", "role", "integration_ids"), title="token created")
    out.print(f"token (shown once): {data['token']}", markup=False, highlight=False)


@tokens.command("revoke")
def tokens_revoke(
    token_id: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    as_json: JsonOut = False,
) -> None:
    """Revoke a token now."""
    if not yes and not typer.confirm(f"Revoke token {token_id}?", default=False):
        err.print("aborted: nothing was revoked")
        raise typer.Exit(1)
    call("DELETE", f"/admin/tokens/{quote(token_id, safe='')}")
    print_json({"revoked": token_id}) if as_json else out.print(f"token {token_id} revoked", highlight=False)
