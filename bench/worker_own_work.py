"""The worker's own CPU per job beside the lean relay's, with the HTTP exchange taken out (not a test).

An A/B tool for changes to the worker's per-job code, and the split of its extra cost over the lean
relay by feature: every side runs in this process over the same canned HTTP exchange (a session
whose ``post`` answers 200 after one pass of the event loop), so aiohttp, aiokafka and the broker,
which cost every side the same and carry most of the machine's noise, are out of the figure.

Rungs, each the previous plus one part of what the worker does per job:

- ``lean``: the lean relay's per-job work (validate and open the job, sign, POST, excerpt, result
  dict, JSON; :func:`worker_bench.lean_delivery`);
- ``send``: the POST through the worker's :func:`webhook_core.sending.send_webhook` (the send-time
  SSRF re-check, pinned address, timeout, result classification), which the security standard
  makes mandatory and the lean relay skips;
- ``metrics``: plus the worker's three per-delivery metric updates (POST duration, succeeded
  attempts, event-to-delivery latency);
- ``records``: plus the retry decision and the worker's result records (:meth:`JobRecords.end`: the
  size bound with its hashed fallback, the fields the status and logs read) instead of the lean
  relay's bare result;
- ``deliverer``: :meth:`delivery_worker.delivery.Deliverer.handle` on the same records: plus the
  config view, per-webhook and global in-flight limits, rate limit, circuit breaker, credentials
  cache, tracing hook and its coroutine levels;
- ``concurrent``: the same 256 jobs at a time, a task per job behind a semaphore, as the relays of
  ``worker_bench.py`` run them (acknowledgements canned);
- ``consumer``: the worker's :class:`~delivery_worker.consumer.JobConsumer` around the Deliverer
  instead, over a canned consumer and outbox: lanes, offset tracking, the parking rule, the
  acknowledgement callbacks.

Rounds alternate the rungs; it prints µs of CPU per job per rung (medians and each round), each
step's cost, the last rung's ratio to the first and, with every rung, ``worker_over_lean_us``: what
the worker's own code adds per job to the lean relay's (every step but ``concurrent``, which the lean
relay, running 256 jobs at once, pays too).
Usage: ``uv run --no-sync python bench/worker_own_work.py [--jobs 8000] [--rounds 9] [--rungs lean,deliverer]``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from pydantic_core import to_json
from worker_bench import (
    POLICY,
    acked_counter,
    bench_webhook,
    body_for,
    lean_delivery,
    make_deliverer,
    make_job,
)

from contracts.base import utcnow
from contracts.deliveries import DeliveryJobV1, payload_context
from contracts.topics import Topics
from contracts.webhooks import NoAuth, RetryPolicy
from delivery_worker.consumer import JobConsumer
from delivery_worker.decision import DecisionPolicy, decide
from delivery_worker.dns_cache import CachingResolver
from delivery_worker.job_records import JobRecords
from delivery_worker.metrics import WorkerMetrics
from delivery_worker.outbox import Outbox, Publication
from delivery_worker.plan import result_for
from service_kit.runtime import DEFAULT_GC_GEN0_THRESHOLD, run
from service_kit.settings import decode_secrets_key
from webhook_core.payload_crypto import Payloads
from webhook_core.secrets_crypto import SecretBox, generate_key, generate_signing_secret
from webhook_core.sending import build_headers, send_webhook
from webhook_core.ssrf import Resolver, system_resolver

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


RUNGS = ("lean", "send", "metrics", "records", "deliverer", "concurrent", "consumer")
STEPS = {
    "send": "send-time checks (SSRF re-check, pinned address, timeout, classification)",
    "metrics": "per-delivery metrics (3 updates)",
    "records": "retry decision and the worker's result records",
    "deliverer": "config view, limits, breaker, credentials, tracing hook, coroutine levels",
    "concurrent": "256 jobs at once, a task per job (as the relays run them)",
    "consumer": "the JobConsumer instead: lanes, offset tracking, parking rule, acknowledgement callbacks",
}
CONCURRENCY = 256
"""Jobs in flight at once in the concurrent rungs: the bench webhooks' 8 x 32, as in worker_bench."""


class CannedConsumer:
    """An AIOKafkaConsumer stand-in for :class:`JobConsumer`: hands out records held in memory, one
    partition, no group (commits and seeks are no-ops)."""

    def __init__(self, records: Sequence[Record]) -> None:
        self.records = records
        self.position = 0
        self.tp = TopicPartition(records[0].topic, records[0].partition)

    def assignment(self) -> set[TopicPartition]:
        return {self.tp}

    def paused(self) -> set[TopicPartition]:
        return set()

    def highwater(self, _: TopicPartition) -> int:
        return len(self.records)

    async def commit(self, _: object) -> None:
        return None

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Record]]:
        if partitions or self.position >= len(self.records):
            await asyncio.sleep(timeout_ms / 1000)  # nothing more: wait like a long poll, using no CPU
            return {}
        end = min(len(self.records), self.position + (max_records or 500))
        batch = list(self.records[self.position : end])
        self.position = end
        return {self.tp: batch}


class CannedOutbox:
    """An :class:`Outbox` stand-in: every job's records are acknowledged on the next pass of the loop."""

    def __init__(self, acked: Callable[[], None]) -> None:
        self.acked = acked

    def enqueue(self, _: Sequence[Publication], done: Callable[[], None]) -> None:
        asyncio.get_running_loop().call_soon(self._done, done)

    def _done(self, done: Callable[[], None]) -> None:
        done()
        self.acked()


@dataclass(frozen=True)
class Extras:
    """What a rung adds to the lean relay's work (None: not this rung's)."""

    resolver: Resolver
    retry: RetryPolicy
    metrics: WorkerMetrics | None = None
    records: JobRecords | None = None


async def checked_delivery(
    session: aiohttp.ClientSession,
    url: str,
    value: bytes,
    secret: str,
    box: SecretBox,
    sink: str,
    extras: Extras,
) -> list[Publication]:
    """:func:`worker_bench.lean_delivery` with the worker's send path and, per ``extras``, its
    metric updates and its decision and result records (the same calls the Deliverer makes)."""
    job = Payloads(box).open(DeliveryJobV1.model_validate_json(value))
    body = job.body_text.encode()
    headers = build_headers(job.delivery_id, int(time.time()), body, [secret], NoAuth())
    attempted_at = utcnow()
    started = time.perf_counter()
    sent = await send_webhook(session, url, body, headers, 10.0, POLICY, True, extras.resolver)
    if extras.metrics is not None:
        extras.metrics.of_integration(job.integration_id).duration.observe(time.perf_counter() - started)
    now = utcnow()
    if extras.metrics is not None and sent.success:  # every bench delivery succeeds
        extras.metrics.of_integration(job.integration_id).succeeded.inc()
        source_time = job.published_at or job.dispatched_at
        extras.metrics.event_to_delivery.observe(max(0.0, (now - source_time).total_seconds()))
    if extras.records is not None:
        decision = decide(job, sent, DecisionPolicy(extras.retry, 1.0), now)
        return extras.records.end(job, [], decision, sent, attempted_at, "closed", now)
    result = result_for(
        job,
        "succeeded" if sent.success else "retrying",
        attempted_at,
        status_code=sent.status_code,
        response_ms=sent.response_ms,
        response_body=sent.response_body,
        payload_encrypted=job.body_encrypted or box.encrypt(job.body_text, payload_context(job.delivery_id)),
    )
    return [Publication(sink, job.webhook_id, to_json(result))]


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

    async def rung(self, name: str) -> float:
        """µs of CPU per job of one rung over every record (after a warm-up fifth)."""
        if name in ("concurrent", "consumer"):
            return await self._concurrent(name)
        if name == "deliverer":
            deliverer, _ = make_deliverer(self.topics, self.hooks, _canned(), self.box)
            return await self._timed(self.records, deliverer.handle)
        session = _canned()
        url, sink = (
            self.hooks[0].subscription_url,
            self.topics.delivery_results,
        )  # every hook's URL is the same
        values = [r.value or b"" for r in self.records]
        if name == "lean":

            async def lean(value: bytes) -> Publication:
                return await lean_delivery(session, url, value, self.secret, self.box, sink)

            return await self._timed(values, lean)
        metrics = WorkerMetrics() if name in ("metrics", "records") else None
        extras = Extras(
            CachingResolver(system_resolver, 10.0),
            self.hooks[0].retry_policy,
            metrics,
            JobRecords(self.topics, Payloads(self.box), metrics, 4_000_000, traced=False)
            if name == "records" and metrics is not None
            else None,
        )

        async def checked(value: bytes) -> list[Publication]:
            return await checked_delivery(session, url, value, self.secret, self.box, sink, extras)

        return await self._timed(values, checked)

    async def _concurrent(self, name: str) -> float:
        """The Deliverer over every record, 256 at a time: a task per job behind a semaphore (as the
        relays run them), or the JobConsumer's lanes (as the worker does); acknowledgements canned."""
        deliverer, metrics = make_deliverer(self.topics, self.hooks, _canned(), self.box)
        warm = self.records[: len(self.records) // 5]
        for record in warm:  # warm-up: caches filled, metric children made
            await deliverer.handle(record)
        count = len(self.records)
        on_ack, all_acked = acked_counter(count)
        outbox = CannedOutbox(on_ack)
        began = time.process_time()
        if name == "concurrent":
            slots = asyncio.Semaphore(CONCURRENCY)

            async def one(record: Record) -> None:
                try:
                    outbox.enqueue(await deliverer.handle(record), _nothing)
                finally:
                    slots.release()

            tasks = []
            for record in self.records:
                await slots.acquire()
                tasks.append(asyncio.create_task(one(record)))
            await asyncio.gather(*tasks)
            await all_acked.wait()
            return (time.process_time() - began) / count * 1e6
        jobs = JobConsumer(
            cast(AIOKafkaConsumer, CannedConsumer(self.records)),
            deliverer,
            cast(Outbox, outbox),
            self.topics,
            metrics,
            subscribed=[self.topics.deliveries_priority, self.topics.deliveries],
            max_pending=2000,
            poll_timeout_ms=100,
            commit_interval_s=1.0,
            due_tolerance_ms=200,
        )
        loop = asyncio.create_task(jobs.run())
        await all_acked.wait()
        used = time.process_time() - began  # before the stop, which waits out an idle poll
        jobs.stopping.set()
        await loop
        return used / count * 1e6

    async def _timed(self, items: Sequence[Any], step: Any) -> float:
        for item in items[: len(items) // 5]:  # warm-up: caches filled, metric children made
            await step(item)
        began = time.process_time()
        for item in items:
            await step(item)
        return (time.process_time() - began) / len(items) * 1e6

    async def main(self, rounds: int, rungs: Sequence[str] = RUNGS) -> dict[str, Any]:
        """Alternating rounds of ``rungs``: medians and rounds in µs per job, each rung's step over the
        previous one, and the last rung's ratio to the first."""
        runs: dict[str, list[float]] = {name: [] for name in rungs}
        for _ in range(rounds):
            for name in rungs:
                runs[name].append(await self.rung(name))
        medians = {name: statistics.median(values) for name, values in runs.items()}
        first, last = runs[rungs[0]], runs[rungs[-1]]
        extra: dict[str, float] = {}
        if set(RUNGS) <= set(rungs):
            # What the worker's own code adds per job to the lean relay's: everything but the
            # concurrent step, which a relay running 256 jobs at once (as the lean relay does) pays too.
            over = medians["deliverer"] - medians["lean"] + medians["consumer"] - medians["concurrent"]
            extra = {"worker_over_lean_us": round(over, 1)}
        return {
            "median_us": {name: round(m, 1) for name, m in medians.items()},
            "steps_us": {
                name: round(medians[name] - medians[before], 1) for before, name in itertools.pairwise(rungs)
            },
            "ratio": round(statistics.median(b / a for a, b in zip(first, last, strict=True)), 2),
            **extra,
            "runs_us": {name: [round(x, 1) for x in values] for name, values in runs.items()},
        }


def _nothing() -> None:
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument(
        "--rungs", default=",".join(RUNGS), help=f"a comma-separated subset of {RUNGS}, in order"
    )
    args = parser.parse_args()
    rungs = tuple(args.rungs.split(","))
    unknown = set(rungs) - set(RUNGS)
    if unknown or len(rungs) < 2:
        parser.error(
            f"--rungs: at least two of {', '.join(RUNGS)} (unknown: {', '.join(sorted(unknown)) or 'none'})"
        )
    out = run(OwnWork(args.jobs).main(args.rounds, rungs), "uvloop", DEFAULT_GC_GEN0_THRESHOLD)
    print(out)


if __name__ == "__main__":
    main()
