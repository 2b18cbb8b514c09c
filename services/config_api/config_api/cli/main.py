"""``carehooks``: the admin command line over the config API.

``--url`` / ``CAREHOOKS_URL`` (default ``http://127.0.0.1:8080``, the config API under ``make run``),
``--token`` / ``CAREHOOKS_TOKEN`` (default: the dev token ``make run`` keeps in ``.run/admin_token``,
see ``service_kit.admin_client``). ``--json`` on every command prints the API's answer.
"""

from __future__ import annotations

from typing import Annotated

import typer

from config_api.cli import admin_cmds, webhooks_cmds
from config_api.cli.output import SESSION
from service_kit.admin_client import AdminClient, resolve_token

DEFAULT_URL = "http://127.0.0.1:8080"

app = typer.Typer(
    name="carehooks",
    help="Administer carehooks through the config API: integrations, webhooks, deliveries, tokens.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(admin_cmds.integrations, name="integrations")
app.add_typer(webhooks_cmds.app, name="webhooks")
app.add_typer(admin_cmds.deliveries, name="deliveries")
app.add_typer(admin_cmds.tokens, name="tokens")


@app.callback()
def connect(
    url: Annotated[str, typer.Option("--url", envvar="CAREHOOKS_URL", help="The config API.")] = DEFAULT_URL,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="CAREHOOKS_TOKEN",
            help="API token (default: .run/admin_token of `make run`, else ADMIN_TOKEN).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Where the API is and who is calling."""
    SESSION.client = AdminClient(url, resolve_token(token))


def main() -> None:
    """Entry point of the ``carehooks`` console script."""
    app()


if __name__ == "__main__":
    main()
