"""A tiny webhook receiver for trying ``make run`` out: prints each delivery and checks its signature.

    uv run --no-sync python deploy/local/receiver.py --port 9000 --secret whsec_...

Answers 200 to every POST (``--status 500`` to watch retries). Prints the Standard Webhooks headers,
whether the signature verifies with ``--secret``, and the start of the body. A dev tool: the body
may hold patient data, so do not point real traffic at it.
"""

from __future__ import annotations

import argparse
import json
import sys

from aiohttp import web


def check_signature(secret: str | None, headers: dict[str, str], body: bytes) -> str:
    """``valid``, ``INVALID (...)`` or ``not checked``."""
    if not secret:
        return "not checked (no --secret)"
    from standardwebhooks import Webhook
    from standardwebhooks.webhooks import WebhookVerificationError

    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError as exc:
        return f"INVALID ({exc})"
    return "valid"


def make_app(secret: str | None, status: int) -> web.Application:
    """The receiver: one route, every path."""

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            event_type = json.loads(body).get("type", "?")
        except (ValueError, AttributeError):
            event_type = "?"
        print(
            f"POST {request.path} type={event_type} webhook-id={headers.get('webhook-id')} "
            f"signature={check_signature(secret, headers, body)} -> {status}\n  {body[:300].decode(errors='replace')}",
            flush=True,
        )
        return web.json_response({"received": True}, status=status)

    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    return app


def main() -> int:
    """Serve until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Print webhook deliveries and verify their signatures.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", help="the webhook's signing secret (whsec_...)")
    parser.add_argument("--status", type=int, default=200, help="HTTP status to answer with")
    args = parser.parse_args()
    print(f"receiving on http://{args.host}:{args.port}/ (Ctrl-C to stop)", flush=True)
    web.run_app(make_app(args.secret, args.status), host=args.host, port=args.port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
