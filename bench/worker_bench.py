"""Delivery worker benchmark (not a test): one worker process vs raw aiohttp to the same receiver.

Measured in one run, on the embedded broker, with the recording receiver of ``bench/chaos_lib`` in
its own process (signature verification off, so the receiver is not the bottleneck):

1. raw: aiohttp POSTs/s from this process to the receiver, ``--concurrency`` clients on one session;
2. worker max rate: a burst of ``--burst`` signed jobs published to ``webhooks.deliveries``;
   deliveries/s = jobs / (last receipt - first receipt), one ``python -m delivery_worker`` process
   whose webhooks allow the same total concurrency as the raw clients;
3. bare relay: the same burst through the least any Kafka-to-HTTP relay on this stack does
   (consume, POST, produce a small record, wait for the ack; see :func:`bare_relay`) in this
   process: the ceiling a worker built on aiokafka and aiohttp could reach, whatever its design;
4. lean relay: the bare relay plus only the per-delivery work the issue makes mandatory (validate
   the job, sign it, keep a 1 KB excerpt, produce a result with the encrypted payload; see
   :func:`lean_relay`): the ceiling of a worker that also skipped limits, breaker, SSRF re-check,
   commits and metrics;
5. latency at a fixed rate of half the worker's max rate (from this run): job publish -> receipt,
   p50/p95/p99.

Each step is repeated ``--runs`` times; medians, spread and the per-run ratios worker/raw,
bare relay/raw, lean relay/raw, worker/bare relay and worker/lean relay go to ``bench/results/worker.json``. This process and the
worker run the same event loop (``--event-loop``, uvloop by default, as in production) and the same
garbage collector settings (``--gc-gen0-threshold``).
Usage: ``uv run --no-sync python bench/worker_bench.py [--runs 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import statistics
import subprocess
import sys
import time
import timeit
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from pydantic_core import to_json

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from chaos_lib.measure import latency_summary, spread
from chaos_lib.stack import ReceiverClient, ReceiverProc
from system_bench import machine, raw_http

from contracts.deliveries import DeliveryJobV1, payload_context
from contracts.topics import Topics
from contracts.webhooks import NoAuth, RetryPolicy, SigningSecret, WebhookConfigV1
from delivery_worker.delivery import Deliverer, DeliveryOptions
from delivery_worker.dns_cache import CachingResolver
from delivery_worker.metrics import WorkerMetrics
from delivery_worker.outbox import Outbox, Publication
from delivery_worker.plan import result_for
from devstack.broker import EMBEDDED_BROKER_ENV, start_broker
from devstack.ports import free_port, free_ports
from devstack.processes import interrupt_on_sigterm
from service_kit.config_view import WebhookView
from service_kit.kafka import assign_from_beginning, consumer_options, ensure_topics, producer_options
from service_kit.kafka_security import embedded_broker_client
from service_kit.runtime import DEFAULT_GC_GEN0_THRESHOLD, run
from service_kit.settings import decode_secrets_key
from webhook_core.payload_crypto import Payloads
from webhook_core.secrets_crypto import SecretBox, generate_key, generate_signing_secret
from webhook_core.sending import build_headers, read_excerpt
from webhook_core.ssrf import SsrfPolicy, system_resolver
from webhook_core.webhook_secrets import secret_context

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"


def body_for(i: int) -> str:
    """A ~1 KB SurveyMonkey-like payload."""
    answers = [{"question_id": f"q{q}", "answer": "x" * 40} for q in range(12)]
    return json.dumps({"event_type": "response_completed", "data": {"event_id": f"e{i}", "answers": answers}})


def bench_webhook(
    box: SecretBox, webhook_id: str, name: str, url: str, secret: str, max_in_flight: int
) -> WebhookConfigV1:
    """A webhook of the benchmarks: every event, one signing secret, 10 s timeout, 3 attempts."""
    return WebhookConfigV1(
        id=webhook_id,
        integration_id="int_bench",
        integration_type="surveymonkey",
        name=name,
        subscription_url=url,
        event_types=["*"],
        signing_secrets=[SigningSecret(encrypted=box.encrypt(secret, secret_context(webhook_id)))],
        retry_policy=RetryPolicy(max_attempts=3, initial_delay_ms=100),
        max_in_flight=max_in_flight,
        timeout_ms=10_000,
        updated_at=datetime.now(UTC) - timedelta(seconds=1),
    )


def make_job(webhook: WebhookConfigV1, i: int, body: str) -> DeliveryJobV1:
    now = datetime.now(UTC)
    return DeliveryJobV1(
        delivery_id=f"bench_{uuid.uuid4().hex}",
        webhook_id=webhook.id,
        integration_id=webhook.integration_id,
        event_id=f"e{i}",
        event_type="response_completed",
        event_time=now,
        dispatched_at=now,
        published_at=now,
        body=body,
    )


class Bench:
    def __init__(self, args: argparse.Namespace, run_dir: Path) -> None:
        self.args = args
        self.run_dir = run_dir
        self.key = generate_key()
        self.box = SecretBox(decode_secrets_key(self.key))
        # Jobs as the dispatcher writes them with KAFKA_PAYLOAD_ENCRYPTION on or off.
        self.payloads = Payloads(self.box, encrypt=args.payload_encryption == "on")
        self.base_prefix = f"wb{int(time.time())}."
        self.prefix = self.base_prefix
        self.topics = Topics().with_prefix(self.prefix)
        self.webhooks: list[WebhookConfigV1] = []
        self.worker_ps: list[psutil.Process] = []
        self.worker_ports: list[int] = []
        self.in_flight_samples: list[float] = []
        self.burst_parked: list[float] = []
        self.whole_burst: list[tuple[float, float]] = []
        """(deliveries/s, CPU ms per delivery) from first to last receipt, publishing included."""
        self.backlog_share: list[float] = []
        """Share of each burst delivered after it was fully published (the measured part)."""
        """Jobs parked during each burst (warm-ups included): parking costs a detour of 1 s or more."""
        self.others: dict[str, psutil.Process] = {}
        self.bootstrap = ""
        """The other processes on the machine's cores (bench, receiver, broker): their CPU is reported."""

    async def worker_metrics(self) -> dict[str, float]:
        """Sum of each unlabelled-or-labelled sample over the workers' /metrics (diagnostics)."""
        totals: dict[str, float] = {}
        async with aiohttp.ClientSession() as http:
            for port in self.worker_ports:
                async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                    text = await resp.text()
                for line in text.splitlines():
                    if line.startswith("#") or not line.strip():
                        continue
                    name, _, value = line.rpartition(" ")
                    base = name.split("{", 1)[0]
                    totals[base] = totals.get(base, 0.0) + float(value)
        return totals

    async def sample_in_flight(self, stop: asyncio.Event, samples: list[float]) -> None:
        """Requests in flight in the worker(s), every 250 ms until ``stop``.

        Each scrape of /metrics costs the worker ~0.8 ms of CPU: every 50 ms (until 2026-12-03) that
        was ~4 µs per delivery charged to the worker by the benchmark itself (Prometheus scrapes
        every 15-30 s)."""
        while not stop.is_set():
            metrics = await self.worker_metrics()
            samples.append(metrics.get("carehooks_delivery_requests_in_flight", 0.0))
            await asyncio.sleep(0.25)

    async def wait_receipts(self, rx: ReceiverClient, ids: set[str], timeout_s: float) -> dict[str, float]:
        """Pull receiver records until every id arrived; id -> first receipt time."""
        seen: dict[str, float] = {}
        deadline = time.monotonic() + timeout_s
        while len(seen) < len(ids) and time.monotonic() < deadline:
            for rec in await rx.pull():
                wid = rec.get("wid")
                if wid in ids and wid not in seen:
                    seen[wid] = rec["t"]
            await asyncio.sleep(0.05)
        return seen

    async def burst(self, producer: AIOKafkaProducer, rx: ReceiverClient) -> tuple[float, float]:
        """(deliveries/s, worker CPU ms per delivery) while the worker drains one backlog.

        Measured from the moment the whole burst is in the topic: while this process publishes it,
        the worker only gets a trickle and shares the two cores with the publishing, which the raw
        and relay baselines do not (they start on a full topic). The whole-burst figures (first to
        last receipt) are kept in :attr:`whole_burst` for comparison.
        """
        jobs = [
            make_job(self.webhooks[i % len(self.webhooks)], i, body_for(i)) for i in range(self.args.burst)
        ]
        payloads = [(j.webhook_id.encode(), self.payloads.seal(j).to_bytes()) for j in jobs]
        cpu_before = self.worker_cpu()
        parked_before = (await self.worker_metrics()).get("carehooks_backlog_parked_total", 0.0)
        futures = [await producer.send(self.topics.deliveries, v, key=k) for k, v in payloads]
        await asyncio.gather(*futures)
        published_at, cpu_published = time.time(), self.worker_cpu()
        stop = asyncio.Event()
        sampler = asyncio.create_task(self.sample_in_flight(stop, self.in_flight_samples))
        seen = await self.wait_receipts(rx, {j.delivery_id for j in jobs}, 120)
        stop.set()
        await sampler
        if len(seen) < len(jobs):
            raise RuntimeError(f"only {len(seen)} of {len(jobs)} burst jobs arrived")
        cpu_end = self.worker_cpu()
        self.burst_parked.append(
            (await self.worker_metrics()).get("carehooks_backlog_parked_total", 0.0) - parked_before
        )
        times = sorted(seen.values())
        whole = ((len(times) - 1) / (times[-1] - times[0]), (cpu_end - cpu_before) * 1000 / len(jobs))
        self.whole_burst.append(whole)
        backlog = [t for t in times if t >= published_at]
        self.backlog_share.append(len(backlog) / len(times))
        if len(backlog) < len(times) // 2:
            return whole  # most of the burst went out while it was being published: no backlog to drain
        return (
            len(backlog) / (backlog[-1] - published_at),
            (cpu_end - cpu_published) * 1000 / len(backlog),
        )

    async def copy_burst(
        self, producer: AIOKafkaProducer, bootstrap: str, tag: str, encode: Callable[[DeliveryJobV1], bytes]
    ) -> tuple[str, str, int]:
        """One burst of jobs, each as ``encode(job)``, on fresh topics ``<prefix><tag>.``; returns the
        source topic, the sink topic and the number of records."""
        topics = Topics().with_prefix(f"{self.prefix}{tag}.")
        await ensure_topics(bootstrap, topics, embedded_broker_client(), partitions=6)
        jobs = [
            make_job(self.webhooks[i % len(self.webhooks)], i, body_for(i)) for i in range(self.args.burst)
        ]
        futures = [await producer.send(topics.deliveries, encode(j), key=j.webhook_id.encode()) for j in jobs]
        await asyncio.gather(*futures)
        return topics.deliveries, topics.delivery_results, len(jobs)

    async def floor(
        self, producer: AIOKafkaProducer, bootstrap: str, url: str, run: int
    ) -> tuple[float, float]:
        """The bare relay (see :func:`bare_relay`) over a copy of one burst's bodies."""
        source, sink, count = await self.copy_burst(
            producer, bootstrap, f"bare{run}", lambda j: j.body_text.encode()
        )
        return await bare_relay(bootstrap, source, sink, url, count, self.args.concurrency)

    async def lean_floor(
        self, producer: AIOKafkaProducer, bootstrap: str, url: str, run: int
    ) -> tuple[float, float]:
        """The lean relay (see :func:`lean_relay`) over a copy of one burst's jobs."""
        source, sink, count = await self.copy_burst(
            producer, bootstrap, f"lean{run}", lambda j: self.payloads.seal(j).to_bytes()
        )
        return await lean_relay(
            bootstrap, source, sink, url, count, self.args.concurrency, generate_signing_secret(), self.box
        )

    async def hop_probe(self, hops: dict[str, float]) -> asyncio.Task[None]:
        """A plain consumer of the deliveries topic (same fetch wait as the worker) noting when each
        job could first be fetched: the broker hop, to tell its latency from the worker's."""
        consumer = AIOKafkaConsumer(
            group_id=None, **consumer_options(self.bootstrap, embedded_broker_client(), 10)
        )
        await consumer.start()
        tps = await assign_from_beginning(consumer, self.topics.deliveries)
        await consumer.seek_to_end(*tps)

        async def follow() -> None:
            try:
                while True:
                    batch = await consumer.getmany(timeout_ms=100)
                    now = time.time()
                    for records in batch.values():
                        for record in records:
                            hops.setdefault(json.loads(record.value)["delivery_id"], now)
            finally:
                await consumer.stop()

        return asyncio.create_task(follow())

    def worker_cpu(self) -> float:
        """CPU seconds used so far by the worker process(es)."""
        return sum(cpu_seconds(ps) for ps in self.worker_ps)

    async def paced(self, producer: AIOKafkaProducer, rx: ReceiverClient, rate: float) -> dict[str, float]:
        count = int(rate * self.args.latency_seconds)
        cpu_before = self.worker_cpu()
        others_before = {name: cpu_seconds(ps) for name, ps in self.others.items()}
        wall_before = time.monotonic()
        sent: dict[str, float] = {}
        futures = []
        hops: dict[str, float] = {}
        probe = await self.hop_probe(hops)
        began = time.monotonic()
        for i in range(count):
            due = began + i / rate
            pause = due - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            job = make_job(self.webhooks[i % len(self.webhooks)], i, body_for(i))
            sent[job.delivery_id] = time.time()
            futures.append(
                await producer.send(
                    self.topics.deliveries, self.payloads.seal(job).to_bytes(), key=job.webhook_id.encode()
                )
            )
        await asyncio.gather(*futures)
        seen = await self.wait_receipts(rx, set(sent), 60)
        probe.cancel()
        await asyncio.gather(probe, return_exceptions=True)
        latencies = [(seen[d] - sent[d]) * 1000 for d in seen]
        summary: dict[str, Any] = dict(latency_summary(latencies))
        # The broker's share: publish -> fetched by a plain consumer polling like the worker does.
        hop = latency_summary([(hops[d] - sent[d]) * 1000 for d in hops if d in sent])
        summary["broker_hop_ms"] = {k: hop[k] for k in ("p50", "p95", "p99")}
        summary["lost"] = len(sent) - len(seen)
        summary["worker_cpu_ms_per_delivery"] = round(
            (self.worker_cpu() - cpu_before) * 1000 / max(1, len(seen)), 3
        )
        summary["rate"] = round(rate, 1)
        # Cores in use while paced (1.0 = one core): on 2 cores, near 2.0 in all means queueing anywhere.
        wall = time.monotonic() - wall_before
        used = {name: (cpu_seconds(ps) - others_before[name]) / wall for name, ps in self.others.items()}
        used["worker"] = (self.worker_cpu() - cpu_before) / wall
        summary["cores_used"] = {name: round(v, 2) for name, v in used.items()}
        return summary

    async def stage(
        self, run: int, producer: AIOKafkaProducer, receiver: ReceiverProc, rx: ReceiverClient
    ) -> list[subprocess.Popen[bytes]]:
        """Fresh topics, webhooks and worker process(es) for one run, warmed up with one burst.

        Each run starts from empty topics: the embedded broker's memory storage gets slower as its
        topics grow (a hop's p50 went from 5 to 10 ms over 100k records), which would otherwise
        charge later runs for the records of earlier ones.
        """
        self.prefix = f"{self.base_prefix}r{run}."
        self.topics = Topics().with_prefix(self.prefix)
        await ensure_topics(self.bootstrap, self.topics, embedded_broker_client(), partitions=6)
        per_webhook = max(1, self.args.concurrency // self.args.webhooks)
        self.webhooks = []
        for n in range(self.args.webhooks):
            wid = f"wh_bench_{n}"
            cfg = bench_webhook(
                self.box, wid, f"bench {n}", receiver.url(f"w{n}"), generate_signing_secret(), per_webhook
            )
            self.webhooks.append(cfg)
            await producer.send_and_wait(self.topics.webhooks_config, cfg.to_bytes(), key=wid.encode())
        env = {
            **os.environ,
            **EMBEDDED_BROKER_ENV,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "TOPIC_PREFIX": self.prefix,
            # A group of its own per run too: on the embedded broker, new members of a group whose
            # previous members just left waited 18 s for them, and once hung in SyncGroup for minutes.
            "DELIVERY_WORKER_GROUP_ID": f"{self.prefix}delivery-worker",
            "WEBHOOK_SECRETS_KEY": self.key,
            "KAFKA_PAYLOAD_ENCRYPTION": "true" if self.payloads.encrypt else "false",
            "WEBHOOK_ALLOW_HTTP": "true",
            "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
            "LOG_JSON": "true",
            "EVENT_LOOP": self.args.event_loop,
            "GC_GEN0_THRESHOLD": str(self.args.gc_gen0_threshold),
        }
        workers: list[subprocess.Popen[bytes]] = []
        ports = free_ports(self.args.workers)
        for n, port in enumerate(ports):  # one consumer group: the partitions are shared
            with (self.run_dir / f"worker{run}.{n}.log").open("ab") as log:
                workers.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "delivery_worker"],
                        env={**env, "DELIVERY_WORKER_PORT": str(port)},
                        stdout=log,
                        stderr=log,
                    )
                )
        self.worker_ps = [psutil.Process(w.pid) for w in workers]
        self.worker_ports = ports
        for port in ports:
            await wait_ready(port, 120)
        await self.burst(producer, rx)  # warm-up: connections, caches, consumer fetch sizes
        return workers

    async def run(self) -> dict[str, Any]:
        broker = start_broker(port=free_port(), log_path=self.run_dir / "broker.log")
        receiver = ReceiverProc(self.run_dir, verify=False)
        workers: list[subprocess.Popen[bytes]] = []
        counters: dict[str, float] = {}
        try:
            receiver.start()
            rx = ReceiverClient(receiver.base_url)
            self.bootstrap = broker.bootstrap_servers
            producer = AIOKafkaProducer(
                **producer_options(broker.bootstrap_servers, embedded_broker_client())
            )
            await producer.start()
            self.others = {
                "bench": psutil.Process(),
                "receiver": psutil.Process(receiver.pid),
                "broker": psutil.Process(broker.process.pid),
            }
            raw_rates: list[float] = []
            raw_cpu: list[float] = []
            worker_rates: list[float] = []
            worker_cpu: list[float] = []
            floor_rates: list[float] = []
            floor_cpu: list[float] = []
            lean_rates: list[float] = []
            lean_cpu: list[float] = []
            latencies: list[dict[str, Any]] = []
            for run in range(self.args.runs):
                workers = await self.stage(run, producer, receiver, rx)
                me = psutil.Process()
                before = me.cpu_times()
                rate = await raw_http(
                    receiver.url("raw"), body_for(0).encode(), self.args.raw_seconds, self.args.concurrency
                )
                after = me.cpu_times()
                raw_rates.append(rate)
                used = (after.user + after.system) - (before.user + before.system)
                raw_cpu.append(used * 1000 / (rate * self.args.raw_seconds))
                rate, cpu_ms = await self.burst(producer, rx)
                worker_rates.append(rate)
                worker_cpu.append(cpu_ms)
                latencies.append(await self.paced(producer, rx, worker_rates[-1] / 2))
                rate, cpu_ms = await self.floor(producer, broker.bootstrap_servers, receiver.url("bare"), run)
                floor_rates.append(rate)
                floor_cpu.append(cpu_ms)
                rate, cpu_ms = await self.lean_floor(
                    producer, broker.bootstrap_servers, receiver.url("lean"), run
                )
                lean_rates.append(rate)
                lean_cpu.append(cpu_ms)
                print(
                    f"run {run + 1}: raw {raw_rates[-1]:.0f}/s, worker {worker_rates[-1]:.0f}/s "
                    f"({worker_rates[-1] / raw_rates[-1]:.0%}); CPU ms per POST raw {raw_cpu[-1]:.2f}, "
                    f"worker {worker_cpu[-1]:.2f}; bare relay {floor_rates[-1]:.0f}/s "
                    f"({floor_rates[-1] / raw_rates[-1]:.0%} of raw, {floor_cpu[-1]:.2f} ms); "
                    f"lean relay {lean_rates[-1]:.0f}/s "
                    f"({lean_rates[-1] / raw_rates[-1]:.0%} of raw, {lean_cpu[-1]:.2f} ms); "
                    f"at {latencies[-1]['rate']}/s "
                    f"p50 {latencies[-1]['p50']} p95 {latencies[-1]['p95']} p99 {latencies[-1]['p99']} ms "
                    f"(broker hop p50/p99 {latencies[-1]['broker_hop_ms']['p50']}/"
                    f"{latencies[-1]['broker_hop_ms']['p99']} ms; "
                    f"worker CPU {latencies[-1]['worker_cpu_ms_per_delivery']} ms per delivery; "
                    f"cores used {latencies[-1]['cores_used']})",
                    flush=True,
                )
                for name, value in (await self.worker_metrics()).items():
                    counters[name] = counters.get(name, 0.0) + value
                stop_workers(workers)
            await producer.stop()
            await rx.close()
        finally:
            stop_workers(workers)
            receiver.stop()
            broker.stop()
        ratios = [w / r for w, r in zip(worker_rates, raw_rates, strict=True)]
        return {
            "machine": machine(),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "args": vars(self.args),
            "raw_http_per_s": spread(raw_rates),
            "worker_deliveries_per_s": spread(worker_rates),
            "worker_vs_raw": spread(ratios),
            "cpu_ms_per_post_raw": spread(raw_cpu),
            "cpu_ms_per_delivery_worker": spread(worker_cpu),
            "cpu_raw_vs_worker": spread([r / w for r, w in zip(raw_cpu, worker_cpu, strict=True)]),
            "bare_relay_per_s": spread(floor_rates),
            "bare_relay_vs_raw": spread([f / r for f, r in zip(floor_rates, raw_rates, strict=True)]),
            "worker_vs_bare_relay": spread([w / f for w, f in zip(worker_rates, floor_rates, strict=True)]),
            "cpu_ms_per_message_bare_relay": spread(floor_cpu),
            "lean_relay_per_s": spread(lean_rates),
            "lean_relay_vs_raw": spread([f / r for f, r in zip(lean_rates, raw_rates, strict=True)]),
            "worker_vs_lean_relay": spread([w / f for w, f in zip(worker_rates, lean_rates, strict=True)]),
            "cpu_ms_per_message_lean_relay": spread(lean_cpu),
            # The lean relay's own work per job, without I/O: the most a faster parser/serialiser
            # could take off its CPU per message (the rest is aiohttp, aiokafka and the loop).
            "lean_relay_own_work_us": lean_work_us(self.box),
            "own_work_rungs_us": await own_work_rungs(),
            "latency_ms_at_half_max": {
                "p50": spread([lat["p50"] for lat in latencies]),
                "p95": spread([lat["p95"] for lat in latencies]),
                "p99": spread([lat["p99"] for lat in latencies]),
                "runs": latencies,
            },
            "targets": {"worker_vs_raw_min": 0.6, "p99_ms_max": 250},
            # Diagnostics: requests in flight while bursts drained (the limit is --concurrency), and
            # what the worker did besides delivering (parking or retries would cost throughput).
            "worker_in_flight_during_bursts": quartiles(self.in_flight_samples),
            "parked_per_burst_warmup_then_measured": self.burst_parked,
            # The max rate is measured once the burst is fully published (see Bench.burst); these are
            # the first-to-last-receipt figures and the share of each burst that was measured.
            "whole_burst_per_s_warmup_then_measured": [round(r, 1) for r, _ in self.whole_burst],
            "whole_burst_cpu_ms_warmup_then_measured": [round(c, 3) for _, c in self.whole_burst],
            "backlog_share_warmup_then_measured": [round(x, 2) for x in self.backlog_share],
            "worker_counters": {
                name: counters.get(name, 0.0)
                for name in (
                    "carehooks_backlog_parked_total",
                    "carehooks_retries_scheduled_total",
                    "carehooks_invalid_jobs_total",
                )
            },
            # Other processes compete for the CPUs on a shared machine: read the figures with this.
            "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
        }


POLICY = SsrfPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
Relay = Callable[[bytes | None, bytes], Awaitable[None]]
Flush = Callable[[], Awaitable[None]]


def worker_like_session(limit: int = 256) -> aiohttp.ClientSession:
    """A session configured like the worker's (see delivery_worker.app): ``limit`` connections, no
    cookie jar. The relays use it too: aiohttp's defaults (100 connections, a cookie jar consulted on
    every request) cost a relay ~18 % more CPU per message (worker_ladder.py, 2026-12-03), and a floor
    must not carry costs the worker does not."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, limit_per_host=0),
        timeout=aiohttp.ClientTimeout(total=120),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def relay_through(
    bootstrap: str,
    source: str,
    count: int,
    concurrency: int,
    make_relay: Callable[[aiohttp.ClientSession, AIOKafkaProducer], tuple[Relay, Flush]],
) -> tuple[float, float]:
    """Fetch ``count`` records of ``source`` and run the relay that ``make_relay`` returns on each,
    ``concurrency`` at a time, then its flush (which waits until every produced record is
    acknowledged). Returns (messages/s, CPU ms per message) of this process."""
    consumer = AIOKafkaConsumer(group_id=None, **consumer_options(bootstrap, embedded_broker_client(), 10))
    # The services' producer options (1 MiB batches: results are ~2 KB, 16 KB would take 8 per round trip).
    producer = AIOKafkaProducer(**producer_options(bootstrap, embedded_broker_client()))
    await consumer.start()
    await producer.start()
    me = psutil.Process()
    try:
        await assign_from_beginning(consumer, source)
        slots = asyncio.Semaphore(concurrency)
        async with worker_like_session(concurrency) as session:
            relay, flush = make_relay(session, producer)

            async def one(key: bytes | None, value: bytes) -> None:
                try:
                    await relay(key, value)
                finally:
                    slots.release()

            cpu = me.cpu_times()
            began = time.monotonic()
            tasks: list[asyncio.Task[None]] = []
            while len(tasks) < count:
                batch = await consumer.getmany(timeout_ms=100, max_records=500)
                for records in batch.values():
                    for record in records:
                        await slots.acquire()
                        tasks.append(asyncio.create_task(one(record.key, record.value or b"")))
            await asyncio.gather(*tasks)
            await flush()
            elapsed = time.monotonic() - began
            after = me.cpu_times()
        used = (after.user + after.system) - (cpu.user + cpu.system)
        return len(tasks) / elapsed, used * 1000 / len(tasks)
    finally:
        await consumer.stop()
        await producer.stop()


async def bare_relay(
    bootstrap: str, source: str, sink: str, url: str, count: int, concurrency: int
) -> tuple[float, float]:
    """The least any Kafka-to-HTTP relay on this stack must do, as a floor for the worker.

    Consume ``count`` records of ``source``, POST each body (one header) and produce a small record
    to ``sink`` per answer, ``concurrency`` at a time: no parsing, signing, SSRF check, limits,
    retries, commits or results worth the name.
    """

    def make(session: aiohttp.ClientSession, producer: AIOKafkaProducer) -> tuple[Relay, Flush]:
        acks: list[asyncio.Future[Any]] = []

        async def relay(key: bytes | None, value: bytes) -> None:
            async with session.post(url, data=value, headers={"content-type": "application/json"}) as resp:
                await resp.read()
                status = resp.status
            acks.append(await producer.send(sink, b'{"status":%d}' % status, key=key))

        async def flush() -> None:
            await asyncio.gather(*acks)

        return relay, flush

    return await relay_through(bootstrap, source, count, concurrency, make)


async def lean_delivery(
    session: aiohttp.ClientSession, url: str, value: bytes, secret: str, box: SecretBox, sink: str
) -> Publication:
    """The lean relay's work on one record: validate and open the ``delivery_job.v1``, sign it, POST it,
    keep a 1 KB excerpt, and build the ``delivery_result.v1`` record (encrypted payload) for ``sink``."""
    job = Payloads(box).open(DeliveryJobV1.model_validate_json(value))
    body = job.body_text.encode()
    headers = build_headers(job.delivery_id, int(time.time()), body, [secret], NoAuth())
    attempted_at = datetime.now(UTC)
    async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
        excerpt = await read_excerpt(resp)
        status = resp.status
    result = result_for(
        job,
        "succeeded" if 200 <= status < 300 else "retrying",
        attempted_at,
        status_code=status,
        response_ms=int((datetime.now(UTC) - attempted_at).total_seconds() * 1000),
        response_body=excerpt,
        payload_encrypted=job.body_encrypted or box.encrypt(job.body_text, payload_context(job.delivery_id)),
    )
    return Publication(sink, job.webhook_id, to_json(result))


def acked_counter(count: int) -> tuple[Callable[[], None], asyncio.Event]:
    """A callback to run once per acknowledged job, and the event set once ``count`` were."""
    acked = 0
    all_acked = asyncio.Event()

    def on_ack() -> None:
        nonlocal acked
        acked += 1
        if acked == count:
            all_acked.set()

    return on_ack, all_acked


async def lean_relay(
    bootstrap: str,
    source: str,
    sink: str,
    url: str,
    count: int,
    concurrency: int,
    secret: str,
    box: SecretBox,
) -> tuple[float, float]:
    """The bare relay plus only the per-delivery work the issue makes mandatory, as a second floor.

    Per record: validate the ``delivery_job.v1``, sign it (Standard Webhooks headers), POST it and
    keep a 1 KB excerpt, build the ``delivery_result.v1`` with the encrypted payload and produce it
    (acks=all) through the worker's batching outbox. No limits, circuit breaker, SSRF re-check,
    retries, lanes, offset commits or metrics: what the worker does beyond this is what a leaner
    worker could at most save.
    """

    def make(session: aiohttp.ClientSession, producer: AIOKafkaProducer) -> tuple[Relay, Flush]:
        # The worker's own batching outbox: the cheapest way to produce and learn of each ack.
        outbox = Outbox(producer, asyncio.Event())
        outbox.start()
        on_ack, all_acked = acked_counter(count)

        async def relay(key: bytes | None, value: bytes) -> None:
            outbox.enqueue([await lean_delivery(session, url, value, secret, box, sink)], on_ack)

        async def flush() -> None:
            await all_acked.wait()
            await outbox.stop()

        return relay, flush

    return await relay_through(bootstrap, source, count, concurrency, make)


def make_deliverer(
    topics: Topics, hooks: Sequence[WebhookConfigV1], session: aiohttp.ClientSession, box: SecretBox
) -> tuple[Deliverer, WorkerMetrics]:
    """A Deliverer like the worker's (loopback allowed, plain HTTP) over a view holding ``hooks``."""
    view = WebhookView()
    for hook in hooks:
        view.webhooks[hook.id] = hook
    metrics = WorkerMetrics()
    options = DeliveryOptions(
        topics=topics,
        policy=POLICY,
        allow_http=True,
        circuit_threshold=5,
        circuit_cooldown_s=5.0,
        retry_floor_s=1.0,
        due_tolerance_s=0.2,
    )
    resolver = CachingResolver(system_resolver, 10.0)
    return Deliverer(options, view, session, box, metrics, 256, resolver), metrics


async def own_work_rungs(jobs: int = 4000, rounds: int = 5) -> dict[str, Any]:
    """The worker's own CPU per job without I/O, rung by rung from the lean relay's to
    :meth:`Deliverer.handle` (see ``worker_own_work.py``): what each feature adds to the mandatory work."""
    # Imported here: worker_own_work imports this module.
    from worker_own_work import OwnWork

    return await OwnWork(jobs).main(rounds)


def lean_work_us(box: SecretBox, number: int = 20_000) -> dict[str, float]:
    """µs per job of each step of the lean relay's own work, without I/O (timeit in this process).

    Tells how much of the lean relay's CPU per message a faster parsing or serialising library could
    save at most: the rest is the HTTP client, the Kafka client and the event loop.
    """
    secret = generate_signing_secret()
    hook = bench_webhook(box, "wh_micro", "micro", "http://127.0.0.1:9/x", secret, 1)
    value = Payloads(box).seal(make_job(hook, 0, body_for(0))).to_bytes()
    closed = DeliveryJobV1.model_validate_json(value)
    job = Payloads(box).open(closed)
    body = job.body_text.encode()
    sealed = box.encrypt(job.body_text, payload_context(job.delivery_id))
    now = datetime.now(UTC)
    result = result_for(
        job, "succeeded", now, status_code=200, response_ms=3, response_body="ok", payload_encrypted=sealed
    )
    steps: dict[str, Callable[[], object]] = {
        "parse_job_json": lambda: DeliveryJobV1.model_validate_json(value),
        "open_encrypted_body": lambda: Payloads(box).open(closed),
        "sign_headers": lambda: build_headers(job.delivery_id, int(time.time()), body, [secret], NoAuth()),
        "build_result": lambda: result_for(
            job,
            "succeeded",
            now,
            status_code=200,
            response_ms=3,
            response_body="ok",
            payload_encrypted=sealed,
        ),
        "encrypt_result_payload": lambda: box.encrypt(job.body_text, payload_context(job.delivery_id)),
        "serialise_result_json": lambda: to_json(result),
    }
    out = {name: round(timeit.timeit(step, number=number) / number * 1e6, 2) for name, step in steps.items()}
    out["total"] = round(sum(out.values()), 2)
    return out


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every worker still running and wait for it."""
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    for worker in workers:
        worker.wait(30)


def cpu_seconds(ps: psutil.Process) -> float:
    """User plus system CPU seconds of a process so far."""
    times = ps.cpu_times()
    return float(times.user + times.system)


def quartiles(values: list[float]) -> dict[str, float]:
    """p25, median and p75 of samples."""
    if len(values) < 2:
        return {"p25": values[0], "median": values[0], "p75": values[0]} if values else {}
    q1, q2, q3 = statistics.quantiles(values, n=4)
    return {"p25": round(q1, 1), "median": round(q2, 1), "p75": round(q3, 1)}


async def wait_ready(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the worker did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--burst", type=int, default=12000, help="jobs per max-rate run (about as long as the raw run)"
    )
    parser.add_argument("--webhooks", type=int, default=8)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=256,
        help="raw clients = sum of the webhooks' max_in_flight (256 = the worker's default global limit)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes in the group (1 = the issue's measure; more shows how it scales out)",
    )
    parser.add_argument("--raw-seconds", type=float, default=4.0)
    parser.add_argument(
        "--event-loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="loop of the worker and this process",
    )
    parser.add_argument(
        "--gc-gen0-threshold",
        type=int,
        default=DEFAULT_GC_GEN0_THRESHOLD,
        help="garbage collector setting of the worker and this process (0 = CPython's default)",
    )
    parser.add_argument("--latency-seconds", type=float, default=5.0)
    parser.add_argument(
        "--payload-encryption",
        choices=["on", "off"],
        default="on",
        help="KAFKA_PAYLOAD_ENCRYPTION of the worker, and jobs published encrypted or not (as the dispatcher would)",
    )
    args = parser.parse_args()
    run_dir = REPO / ".run" / "bench" / f"worker-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True, exist_ok=True)
    # The same event loop as the worker (uvloop by default), so raw, bare relay and worker compare like for like.
    # ...and the same garbage collector settings.
    interrupt_on_sigterm()  # stopped by kill or by run_all's timeout: still stop the stack it started
    out = run(Bench(args, run_dir).run(), args.event_loop, args.gc_gen0_threshold)
    out["event_loop"] = args.event_loop
    out["payload_encryption"] = args.payload_encryption
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "worker.json" if args.workers == 1 else f"worker_{args.workers}procs.json"
    if args.payload_encryption == "off":
        name = name.replace(".json", "_plaintext.json")
    (RESULTS / name).write_text(json.dumps(out, indent=2) + "\n")
    w, r, ratio = out["worker_deliveries_per_s"], out["raw_http_per_s"], out["worker_vs_raw"]
    lat = out["latency_ms_at_half_max"]
    print(f"raw aiohttp POST/s     median {r['median']} (spread {r['spread_pct']}%)")
    print(f"worker deliveries/s    median {w['median']} (spread {w['spread_pct']}%)")
    print(f"worker / raw           median {ratio['median']} (runs {ratio['runs']})")
    lean = out["lean_relay_vs_raw"]
    print(f"lean relay / raw       median {lean['median']} (runs {lean['runs']})")
    print(f"worker / lean relay    median {out['worker_vs_lean_relay']['median']}")
    own = out["lean_relay_own_work_us"]
    print(
        f"lean relay own work    {own['total']} µs per job without I/O, of "
        f"{out['cpu_ms_per_message_lean_relay']['median'] * 1000:.0f} µs CPU per message ({own})"
    )
    rungs = out["own_work_rungs_us"]
    print(
        f"own work per job, no I/O µs: {rungs['median_us']} (steps {rungs['steps_us']}; "
        f"the worker's code over the lean relay's {rungs['worker_over_lean_us']} µs per job)"
    )
    print(
        f"latency at half max    p50 {lat['p50']['median']} p95 {lat['p95']['median']} p99 {lat['p99']['median']} ms"
    )


if __name__ == "__main__":
    main()
