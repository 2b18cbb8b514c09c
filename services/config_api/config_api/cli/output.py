"""How ``carehooks`` talks to the API and prints: one client, JSON or rich tables, exit codes.

Exit codes: 0 done, 1 the API refused or could not be reached (its message on stderr), 2 bad
input (usage errors, and the API's 422 answers, which name the field).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from service_kit.admin_client import AdminApiError, AdminClient

out = Console(soft_wrap=True)
err = Console(stderr=True)

_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass
class Session:
    """The client of this invocation (set by the root callback)."""

    client: AdminClient | None = None


SESSION = Session()


def call(method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None) -> Any:
    """One API request; an error answer prints the server's message and exits 1 (2 for a 422)."""
    assert SESSION.client is not None  # set by the callback before any command runs
    try:
        return SESSION.client.request(method, path, query=query, body=body)
    except AdminApiError as exc:
        err.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(2 if exc.status == 422 else 1) from None


def moment(value: str | None, option: str) -> str | None:
    """An ISO time as given, or a relative one (``30m``, ``2h``, ``7d``: that long ago) made ISO."""
    if value is None:
        return None
    match = _RELATIVE.match(value.strip())
    if match:
        delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return (datetime.now(UTC) - delta).isoformat()
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO time or 30m / 2h / 7d", param_hint=option
        ) from None
    return value


def parse_json(text: str, what: str) -> Any:
    """JSON from an option; a usage error naming the option when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint=what) from None


def print_json(data: Any) -> None:
    """The API's answer as JSON (for scripts: ``--json``)."""
    out.print(json.dumps(data, indent=2, default=str), markup=False, highlight=False, soft_wrap=True)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def table(rows: Iterable[dict[str, Any]], columns: Sequence[str], title: str | None = None) -> None:
    """Rows as a table of the given columns (``a.b`` reads a nested key)."""
    grid = Table(title=title)
    for column in columns:
        grid.add_column(column.split(".")[-1].replace("_", " "), overflow="fold")
    for row in rows:
        values = []
        for column in columns:
            value: Any = row
            for key in column.split("."):
                value = value.get(key) if isinstance(value, dict) else None
            values.append(_cell(value))
        grid.add_row(*values)
    out.print(grid)


def fields(data: dict[str, Any], keys: Sequence[str] | None = None, title: str | None = None) -> None:
    """One object as a two-column table."""
    grid = Table(title=title, show_header=False)
    grid.add_column("field", style="bold")
    grid.add_column("value", overflow="fold")
    for key in keys or list(data):
        if key in data:
            grid.add_row(key, _cell(data[key]))
    out.print(grid)


JsonOut = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")]


def page(data: dict[str, Any], columns: Sequence[str], title: str, as_json: bool) -> None:
    """One page of a list: JSON, or a table and how to ask for the next page."""
    if as_json:
        print_json(data)
        return
    table(data["items"], columns, title=title)
    if data.get("next_cursor"):
        out.print(f"more: --cursor {data['next_cursor']}", highlight=False)
