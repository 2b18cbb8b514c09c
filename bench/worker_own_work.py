"""The worker's own CPU per job beside the lean relay's, with the HTTP exchange taken out (not a test).

An A/B tool for changes to the worker's per-job code: both sides run in this process over the same
canned HTTP exchange (a session whose ``post`` answers 200 after one pass of the event loop), so
aiohttp, aiokafka and the broker, which cost both the same and carry most of the machine's noise,
are out of the figure. Unlike ``deliverer_own_work_us`` of ``worker_bench.py`` (which replaces the
whole send), the worker's side runs :func:`webhook_core.sending.send_webhook` itself: the send-time
SSRF re-check, pinning, timeout and result classification are in.

- ``lean``: the lean relay's per-job work (validate and open the job, sign, POST, excerpt, result
  dict, JSON);
- ``deliverer``: :meth:`delivery_worker.delivery.Deliverer.handle` on the same records.

Rounds alternate the two; it prints µs of CPU per job (medians and each round) and the ratio.
Usage: ``uv run --no-sync python bench/worker_own_work.py [--jobs 8000] [--rounds 9]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from typing import Any, TypeAlias, cast

import aiohttp
from aiokafka.structs import ConsumerRecord
from worker_bench import bench_webhook, body_for, lean_delivery, make_deliverer, make_job

from contracts.topics import Topics
from delivery_worker.outbox import Publication
from service_kit.runtime import DEFAULT_GC_GEN0_THRESHOLD, run
from service_kit.settings import decode_secrets_key
from webhook_core.payload_crypto import Payloads
from webhook_core.secrets_crypto import SecretBox, generate_key, generate_signing_secret

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


class _Body:
    def __init__(self) -> None:
        self.done = False

    async def read(self, _: int) -> bytes:
        if self.done:
            return b""
        self.done = True
        return b'{"ok":true}'

    def at_eof(self) -> bool:
        return self.done


class _Response:
    status = 200
    headers: dict[str, str] = {}

    def __init__(self) -> None:
        self.content = _Body()


class _Exchange:
    async def __aenter__(self) -> _Response:
        await asyncio.sleep(0)  # one pass of the loop, as a real answer takes at least one
        return _Response()

    async def __aexit__(self, *_: object) -> None:
        return None


class CannedSession:
    """Answers every POST with a 200 and a short body, without I/O."""

    def post(self, _url: Any, **_kwargs: Any) -> _Exchange:
        return _Exchange()


def _canned() -> aiohttp.ClientSession:
    # Duck-typed: both sides only call ``post(...)`` as an async context manager and read the response's
    # status, headers and content, which is all CannedSession provides.
    return cast(aiohttp.ClientSession, CannedSession())


class OwnWork:
    def __init__(self, jobs: int) -> None:
        self.box = SecretBox(decode_secrets_key(generate_key()))
        self.secret = generate_signing_secret()
        self.hooks = [
            bench_webhook(self.box, f"wh_own_{n}", "own", "http://127.0.0.1:9/x", self.secret, 32)
            for n in range(8)
        ]
        self.topics = Topics().with_prefix("own.")
        sealer = Payloads(self.box)
        self.records: list[Record] = []
        for i in range(jobs):
            hook = self.hooks[i % len(self.hooks)]
            value = sealer.seal(make_job(hook, i, body_for(i))).to_bytes()
            self.records.append(
                ConsumerRecord(self.topics.deliveries, 0, i, 0, 0, hook.id.encode(), value, None, 0, 0, [])
            )

    async def lean(self) -> float:
        session = _canned()
        url, sink = (
            self.hooks[0].subscription_url,
            self.topics.delivery_results,
        )  # every hook's URL is the same

        async def relay(value: bytes) -> Publication:
            return await lean_delivery(session, url, value, self.secret, self.box, sink)

        return await self._timed([r.value or b"" for r in self.records], relay)

    async def deliverer(self) -> float:
        deliverer, _ = make_deliverer(self.topics, self.hooks, _canned(), self.box)
        return await self._timed(self.records, deliverer.handle)

    async def _timed(self, items: Sequence[Any], step: Any) -> float:
        for item in items[: len(items) // 5]:  # warm-up: caches filled, metric children made
            await step(item)
        began = time.process_time()
        for item in items:
            await step(item)
        return (time.process_time() - began) / len(items) * 1e6

    async def main(self, rounds: int) -> dict[str, Any]:
        lean: list[float] = []
        own: list[float] = []
        for _ in range(rounds):
            lean.append(await self.lean())
            own.append(await self.deliverer())
        return {
            "lean_us": round(statistics.median(lean), 1),
            "deliverer_us": round(statistics.median(own), 1),
            "ratio": round(statistics.median(o / w for o, w in zip(own, lean, strict=True)), 2),
            "lean_runs_us": [round(x, 1) for x in lean],
            "deliverer_runs_us": [round(x, 1) for x in own],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    out = run(OwnWork(args.jobs).main(args.rounds), "uvloop", DEFAULT_GC_GEN0_THRESHOLD)
    print(out)


if __name__ == "__main__":
    main()
