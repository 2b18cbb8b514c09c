"""A recording webhook receiver, run as its own process (``python bench/chaos_lib/receiver.py --port N``).

Every POST to ``/h/<label>`` is recorded: arrival time, label, ``webhook-id``, the status answered,
whether the Standard Webhooks signature verified (with the secrets pushed to ``/_control/secrets``,
checked by the official ``standardwebhooks`` package), and the event key found in the body.
Faults are switched at run time through ``/_control/faults``:

- ``error_rate`` / ``error_status``: that share of answers (random) is an error;
- ``hang``: ``{label: until_epoch_s}`` - requests to that label hang (the client times out first);
- ``gone``: labels answering 410.

Records are pulled with ``GET /_records?since=N``. The receiver lives in its own process so that
recording and verifying never compete with the driver's event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import time
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

HANG_S = 60.0
FREEZE_EVERY = 1000


def event_key(body: bytes) -> str | None:
    """The generator's key of the event a delivery carries (``sm:<event_id>`` / ``fhir:<Type>/<id>``)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        return None
    if "resourceType" in data and "id" in data:
        return f"fhir:{data['resourceType']}/{data['id']}"
    if "event_id" in data:
        return f"sm:{data['event_id']}"
    return None


class Receiver:
    """State of the receiver: records, faults, secrets."""

    def __init__(self, verify: bool) -> None:
        self.records: list[dict[str, Any]] = []
        self.verify = verify
        self.error_rate = 0.0
        self.error_status = 500
        self.hang: dict[str, float] = {}
        self.gone: set[str] = set()
        self.verifiers: dict[str, list[Webhook]] = {}
        self.rng = random.Random(8)

    def signature_state(self, label: str, body: bytes, headers: dict[str, str]) -> str:
        if not self.verify:
            return "skipped"
        verifiers = self.verifiers.get(label)
        if not verifiers:
            return "no_secret"
        for hook in verifiers:
            try:
                hook.verify(body, headers, json_parse=False)
                return "ok"
            except WebhookVerificationError:
                continue
        return "bad"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.time()
        label = request.match_info["label"]
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        record: dict[str, Any] = {
            "t": arrived,
            "label": label,
            "wid": headers.get("webhook-id"),
            "sig": self.signature_state(label, body, headers),
            "key": event_key(body),
        }
        self.records.append(record)
        if len(self.records) % FREEZE_EVERY == 0:
            # The records live until the process ends: out of the collector's sight, or its full
            # collections walk all of them (a 34-58 ms stall in a 20 s run, 2026-12-04).
            gc.freeze()
        until = self.hang.get(label)
        if until is not None and arrived < until:
            record["status"] = -1  # hung: the sender gives up before any answer
            await asyncio.sleep(HANG_S)
            return web.Response(status=503)
        if label in self.gone:
            record["status"] = 410
            return web.Response(status=410, text="gone")
        if self.error_rate > 0 and self.rng.random() < self.error_rate:
            record["status"] = self.error_status
            return web.Response(status=self.error_status, text="injected failure")
        record["status"] = 200
        return web.Response(status=200, text="ok")

    async def set_faults(self, request: web.Request) -> web.Response:
        doc = await request.json()
        self.error_rate = float(doc.get("error_rate", 0.0))
        self.error_status = int(doc.get("error_status", 500))
        self.hang = {str(k): float(v) for k, v in (doc.get("hang") or {}).items()}
        self.gone = set(doc.get("gone") or [])
        return web.json_response({"ok": True})

    async def set_secrets(self, request: web.Request) -> web.Response:
        doc = await request.json()
        for label, secrets in doc.items():
            self.verifiers[str(label)] = [Webhook(s) for s in secrets]
        return web.json_response({"ok": True, "labels": len(self.verifiers)})

    async def get_records(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        chunk = self.records[since:]
        return web.json_response({"records": chunk, "next": since + len(chunk)})

    async def health(self, _: web.Request) -> web.Response:
        return web.json_response({"ok": True, "records": len(self.records)})


def build_app(verify: bool = True) -> web.Application:
    """The receiver's aiohttp application."""
    state = Receiver(verify)
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.add_routes(
        [
            web.post("/h/{label}", state.handle),
            web.post("/_control/faults", state.set_faults),
            web.post("/_control/secrets", state.set_secrets),
            web.get("/_records", state.get_records),
            web.get("/_health", state.health),
        ]
    )
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-verify", action="store_true", help="skip signature verification")
    args = parser.parse_args()
    web.run_app(
        build_app(verify=not args.no_verify),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        backlog=1024,
    )


if __name__ == "__main__":
    main()
