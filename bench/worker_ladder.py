"""Where the worker's CPU per delivery goes beyond the least a relay must do (not a test, not in make bench).

One process, one embedded broker, one receiver process; rungs measured in alternation (``--rounds``
times each, so a noisy machine spreads over all of them), each on fresh topics holding ``--jobs``
published jobs, CPU ms per message of this process:

- ``lean``: :func:`worker_bench.lean_relay`'s work (validate, sign, POST, excerpt, encrypted
  result through the batching outbox), on a session configured like the worker's (256 connections,
  no cookie jar: aiohttp's defaults cost ~18 % more per job);
- ``send``: the same with the worker's send path (:func:`webhook_core.sending.send_webhook`: SSRF
  re-check of the cached answer, pinned address, per-request timeout, Host header);
- ``deliverer``: each record through the worker's :class:`~delivery_worker.delivery.Deliverer`
  (config view, limits, breaker, credentials, metrics, results);
- ``consumer``: the worker's :class:`~delivery_worker.consumer.JobConsumer` in a consumer group
  (lanes, parking rule, offsets, commits) in front of the Deliverer.

Usage: ``uv run --no-sync python bench/worker_ladder.py [--jobs 6000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from chaos_lib.stack import ReceiverProc
from pydantic_core import to_json
from worker_bench import (
    POLICY,
    REPO,
    Flush,
    Relay,
    acked_counter,
    bench_webhook,
    body_for,
    make_deliverer,
    make_job,
    relay_through,
    worker_like_session,
)

from contracts.deliveries import DeliveryJobV1
from contracts.topics import Topics
from contracts.webhooks import NoAuth, WebhookConfigV1
from delivery_worker.consumer import JobConsumer
from delivery_worker.dns_cache import CachingResolver
from delivery_worker.outbox import Outbox, Publication
from delivery_worker.plan import result_for
from devstack.broker import start_broker
from devstack.ports import free_port
from devstack.processes import interrupt_on_sigterm
from service_kit.kafka import consumer_options, ensure_topics, producer_options
from service_kit.kafka_security import embedded_broker_client
from service_kit.runtime import DEFAULT_GC_GEN0_THRESHOLD, run
from service_kit.settings import decode_secrets_key
from webhook_core.secrets_crypto import SecretBox, generate_key, generate_signing_secret
from webhook_core.sending import build_headers, read_excerpt, send_webhook
from webhook_core.ssrf import system_resolver

RUNGS = ("lean", "send", "deliverer", "consumer")


class Ladder:
    def __init__(self, jobs: int, max_in_flight: int = 32, max_pending: int = 2000) -> None:
        self.jobs = jobs
        self.max_in_flight = max_in_flight
        self.max_pending = max_pending
        self.box = SecretBox(decode_secrets_key(generate_key()))
        self.secret = generate_signing_secret()
        self.hooks: list[WebhookConfigV1] = []

    def rung(
        self, name: str, topics: Topics
    ) -> Callable[[aiohttp.ClientSession, AIOKafkaProducer], tuple[Relay, Flush]]:
        urls = {hook.id: hook.subscription_url for hook in self.hooks}
        sink = topics.delivery_results

        def make(session: aiohttp.ClientSession, producer: AIOKafkaProducer) -> tuple[Relay, Flush]:
            outbox = Outbox(producer, asyncio.Event())
            outbox.start()
            on_ack, all_acked = acked_counter(self.jobs)
            resolver = CachingResolver(system_resolver, 10.0)

            async def flush() -> None:
                await all_acked.wait()
                await outbox.stop()

            if name == "deliverer":
                deliverer, _ = make_deliverer(topics, self.hooks, session, self.box)

                async def through_deliverer(key: bytes | None, value: bytes) -> None:
                    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
                        topics.deliveries, 0, 0, 0, 0, key, value, None, 0, 0, []
                    )
                    outbox.enqueue(await deliverer.handle(record), on_ack)

                return through_deliverer, flush

            async def relay(key: bytes | None, value: bytes) -> None:
                job = DeliveryJobV1.model_validate_json(value)
                body = job.body_text.encode()
                headers = build_headers(job.delivery_id, int(time.time()), body, [self.secret], NoAuth())
                attempted_at = datetime.now(UTC)
                url = urls[job.webhook_id]
                if name == "lean":
                    async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                        excerpt, status = await read_excerpt(resp), resp.status
                else:
                    sent = await send_webhook(session, url, body, headers, 10.0, POLICY, True, resolver)
                    excerpt, status = sent.response_body, sent.status_code or 0
                result = result_for(
                    job,
                    "succeeded" if 200 <= status < 300 else "retrying",
                    attempted_at,
                    status_code=status,
                    response_body=excerpt,
                    payload_encrypted=self.box.encrypt(job.body_text, f"delivery:{job.delivery_id}"),
                )
                outbox.enqueue([Publication(sink, job.webhook_id, to_json(result))], on_ack)

            return relay, flush

        return make

    async def consumer_rung(self, bootstrap: str, topics: Topics) -> float:
        """CPU ms per job through JobConsumer + Deliverer, from the first fetch to the last ack."""
        producer = AIOKafkaProducer(**producer_options(bootstrap, embedded_broker_client()))
        await producer.start()
        on_ack, all_acked = acked_counter(self.jobs)

        class CountingOutbox(Outbox):
            def enqueue(self, items: Sequence[Publication], done: Callable[[], None]) -> None:
                def both() -> None:
                    done()
                    on_ack()

                super().enqueue(items, both)

        outbox = CountingOutbox(producer, asyncio.Event())
        outbox.start()
        session = worker_like_session()
        deliverer, metrics = make_deliverer(topics, self.hooks, session, self.box)
        consumer = AIOKafkaConsumer(
            group_id=f"{topics.deliveries}-ladder",
            **consumer_options(bootstrap, embedded_broker_client(), 10),
        )
        jobs = JobConsumer(
            consumer,
            deliverer,
            outbox,
            topics,
            metrics,
            subscribed=[topics.deliveries_priority, topics.deliveries],
            max_pending=self.max_pending,
            poll_timeout_ms=100,
            commit_interval_s=1.0,
            due_tolerance_ms=200,
        )
        consumer.subscribe(jobs.subscribed, listener=jobs.listener())
        await consumer.start()
        me = psutil.Process()
        loop = asyncio.create_task(jobs.run())
        # From the first fetch: the group's join (seconds on the embedded broker, the process idling
        # and polling) is no per-delivery cost, and the relays it is compared with join no group.
        while jobs.pending == 0:
            await asyncio.sleep(0.002)
        before = me.cpu_times()
        lags: list[float] = []

        async def sample_lag() -> None:
            while True:
                lags.append(jobs.loop_lag.seconds * 1000)
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample_lag())
        await all_acked.wait()
        after = me.cpu_times()
        sampler.cancel()
        if len(lags) >= 2:
            deciles = statistics.quantiles(lags, n=10)
            print(
                f"  event-loop lag ms p10 {deciles[0]:.1f} p50 {deciles[4]:.1f} p90 {deciles[8]:.1f}",
                flush=True,
            )
        parked = int(metrics.registry.get_sample_value("carehooks_backlog_parked_total") or 0)
        if parked:
            # A parked job ends here with its hop (the rung reads no retry tier): less work than a delivery.
            print(f"  consumer rung parked {parked} of {self.jobs} jobs", flush=True)
        jobs.stopping.set()
        await loop
        await consumer.stop()
        await outbox.stop()
        await producer.stop()
        await session.close()
        return float((after.user + after.system) - (before.user + before.system)) * 1000 / self.jobs

    async def main(self, rungs: Sequence[str], rounds: int) -> dict[str, Any]:
        run_dir = REPO / ".run" / "bench" / f"ladder-{time.strftime('%Y%m%d-%H%M%S')}"
        run_dir.mkdir(parents=True, exist_ok=True)
        broker = start_broker(port=free_port(), log_path=run_dir / "broker.log")
        receiver = ReceiverProc(Path(run_dir), verify=False)
        receiver.start()
        cpu: dict[str, list[float]] = {name: [] for name in rungs}
        try:
            self.hooks = [
                bench_webhook(
                    self.box,
                    f"wh_ladder_{n}",
                    f"ladder {n}",
                    receiver.url(f"w{n}"),
                    self.secret,
                    self.max_in_flight,
                )
                for n in range(8)
            ]
            producer = AIOKafkaProducer(
                **producer_options(broker.bootstrap_servers, embedded_broker_client())
            )
            await producer.start()
            for round_no in range(rounds):
                for name in rungs:
                    topics = Topics().with_prefix(f"ladder{time.time_ns()}.")
                    await ensure_topics(
                        broker.bootstrap_servers, topics, embedded_broker_client(), partitions=6
                    )
                    sent = []
                    for i in range(self.jobs):
                        job = make_job(self.hooks[i % len(self.hooks)], i, body_for(i))
                        sent.append(
                            await producer.send(
                                topics.deliveries, job.to_bytes(), key=job.webhook_id.encode()
                            )
                        )
                    await asyncio.gather(*sent)
                    await asyncio.sleep(1.0)
                    if name == "consumer":
                        ms = await self.consumer_rung(broker.bootstrap_servers, topics)
                    else:
                        _, ms = await relay_through(
                            broker.bootstrap_servers,
                            topics.deliveries,
                            self.jobs,
                            256,
                            self.rung(name, topics),
                        )
                    cpu[name].append(ms)
                    print(f"round {round_no + 1} {name:10s} {ms * 1000:6.1f} µs per job", flush=True)
            await producer.stop()
        finally:
            receiver.stop()
            broker.stop()
        base = statistics.median(cpu[rungs[0]])
        return {
            name: {
                "median_us": round(statistics.median(values) * 1000, 1),
                "runs_us": [round(v * 1000, 1) for v in values],
                f"ratio_to_{rungs[0]}": round(statistics.median(values) / base, 2),
            }
            for name, values in cpu.items()
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rungs", default=",".join(RUNGS))
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=32,
        help="each of the 8 webhooks' max_in_flight (the consumer rung's lanes; 32: 256 in all)",
    )
    parser.add_argument(
        "--max-pending",
        type=int,
        default=2000,
        help="the consumer rung's fetch window (the worker's default)",
    )
    args = parser.parse_args()
    interrupt_on_sigterm()  # stopped by kill: still stop the broker and receiver it started
    out = run(
        Ladder(args.jobs, args.max_in_flight, args.max_pending).main(args.rungs.split(","), args.rounds),
        "uvloop",
        DEFAULT_GC_GEN0_THRESHOLD,
    )
    for name, figures in out.items():
        print(f"{name:10s} {figures}")


if __name__ == "__main__":
    main()
