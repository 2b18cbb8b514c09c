"""System benchmark: the whole pipeline against its baselines, measured in the same run.

Phases (each repeated ``--repeats`` times; the machine is noisy, so medians and spreads are reported):

1. raw HTTP: aiohttp POSTs to the recording receiver (same receiver the pipeline delivers to);
2. raw broker: produce N messages, then consume them (aiokafka, the project's client options);
3. pipeline: a burst of SurveyMonkey events through dispatcher + one delivery worker to the receiver
   (deliveries/s from first publish to last receipt); the ratio to (1) and (2) is the headline;
4. sustained maximum: a rate ramp, steady arrivals in tenths of the burst figure (up from 50 %, down
   from 40 % if 50 % is too much), each step on a fresh pipeline and kept up with when every event
   arrived and the latency did not grow (delivered rate within 3 % of the offered one); the highest
   such rate is the maximum the latency phases take fractions of, re-checked right before each
   latency repeat (``bench/rate_search.py``: lowered by tenths while it is no longer kept up with);
5. latency: publish->receipt p50/p95/p99 at 25/50/75 % of that sustained maximum;
   Each latency run is also split into stages with the Kafka record timestamps (CreateTime, set by
   each producer) of the job and of its first result: publish -> job produced (dispatcher: one broker
   hop, parsing, matching, produce), job produced -> receipt (worker: one broker hop, signing, the
   POST), receipt -> result produced; beside one raw broker hop (produce -> consume) at the same rate
   in the same run, the floor of each of the two hops, measured alone after the phase and beside the
   pipeline during it (``bench/hop_probe.py``, its own process, a tenth of the rate);
   ``--latency-only RATE`` runs only this phase at one rate, for A/B runs;
6. scale-out: bursts of the same number of deliveries, to 8 webhooks (jobs are keyed by webhook, so
   they spread over the delivery partitions), with 1 dispatcher + 1 worker, 1 + 2 and 2 + 2 processes
   (each group shared), deliveries/s and CPU ms per delivery (dispatchers + workers); the scaling factor is the
   throughput over the 1 + 1 figure. On 2 cores the receiver and the broker share the machine, so
   CPU per delivery, which should stay flat as processes are added, is the figure to read. The phase
   runs twice: on ``make run``'s 10 ms fetch wait, then with the dispatchers and workers at 100 ms
   (``scale_out_long_poll``). The embedded broker holds every fetch for its whole wait, so on 10 ms each
   process pays for ~100 empty fetches a second whenever it has nothing to read, a cost per process,
   not per delivery, that a real Kafka (a long poll answered as soon as data arrives) does not charge.

Then, once per scale: the dispatcher alone through the broker with 10 / 10,000 / 100,000 webhooks
(written straight to ``webhooks.config``; each event matches 3), events/s into the delivery topics.
Peak RSS of each service is sampled during the run. JSON in bench/results/system.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import os
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from chaos_lib.api import ConfigApi
from chaos_lib.events import EventGenerator
from chaos_lib.kafka_io import Publisher
from chaos_lib.measure import cpu_seconds, latency_summary, spread
from chaos_lib.stack import (
    REPO,
    SERVICES,
    Infra,
    ReceiverClient,
    ReceiverProc,
    StackConfig,
    Supervisor,
    service_specs,
    start_infra,
)
from fetch_times import gc_pauses, read_probe_dir, taken_summary
from hop_probe import raw_hop_latency, result_of, start_beside
from rate_search import rate_text, recheck_max, sustained_max
from tail_attribution import EventTimes, attribute_tail, combine

from contracts.topics import Topics
from contracts.webhooks import WebhookConfigV1
from devstack.ports import free_port
from devstack.processes import interrupt_on_sigterm
from service_kit.kafka import assign_from_beginning, consumer_options, ensure_topics, producer_options
from service_kit.kafka_security import embedded_broker_client
from service_kit.runtime import run as run_tuned
from webhook_core.secrets_crypto import generate_key

STAGES = ("dispatcher", "worker", "result", "end_to_end")
FINE_STAGES = ("to_dispatcher", "job_out", "to_worker", "post")
KEEPS_UP = 0.97
"""A step is kept up with when every event arrived and the delivered rate is within 3 % of the offered
one (over a 10 s step: the latency grew by less than ~310 ms from its first tenth to its last)."""

BENCH_RETRY = {
    "max_attempts": 3,
    "initial_delay_ms": 200,
    "multiplier": 2,
    "max_delay_ms": 1000,
    "jitter": 0.1,
}


def sample_body(gen: EventGenerator) -> bytes:
    """A delivery body of the usual size (what the worker POSTs for a SurveyMonkey callback)."""
    msg = gen.surveymonkey(time.time(), event_type="response_completed")
    data = msg.events[0].data
    return json.dumps(
        {
            "type": "response_completed",
            "timestamp": data["event_datetime"],
            "data": data,
            "integration_id": "surveymonkey",
            "event_id": data["event_id"],
            "object_type": "response",
            "object_id": data["object_id"],
        }
    ).encode()


async def raw_http(url: str, body: bytes, seconds: float, concurrency: int = 32) -> float:
    """POSTs/s to the receiver with ``concurrency`` clients on one session."""
    done = 0
    stop_at = time.monotonic() + seconds
    headers = {"content-type": "application/json", "webhook-id": "msg_raw"}
    async with aiohttp.ClientSession() as session:

        async def client() -> None:
            nonlocal done
            while time.monotonic() < stop_at:
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                done += 1

        began = time.monotonic()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return done / (time.monotonic() - began)


async def raw_broker(bootstrap: str, topic: str, body: bytes, count: int) -> dict[str, float]:
    """Produce ``count`` messages (acks=all), then consume them all from the beginning."""
    producer = AIOKafkaProducer(**producer_options(bootstrap, embedded_broker_client()))
    await producer.start()
    try:
        began = time.monotonic()
        futures = [await producer.send(topic, body, key=str(i % 50).encode()) for i in range(count)]
        await asyncio.gather(*futures)
        produce_s = time.monotonic() - began
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(group_id=None, **consumer_options(bootstrap, embedded_broker_client(), 50))
    await consumer.start()
    try:
        await assign_from_beginning(consumer, topic)
        got = 0
        began = time.monotonic()
        while got < count and time.monotonic() - began < 120:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            got += sum(len(v) for v in batches.values())
        consume_s = time.monotonic() - began
    finally:
        await consumer.stop()
    return {"produce_per_s": count / produce_s, "consume_per_s": got / consume_s}


async def wait_receipts(
    rx: ReceiverClient, start_index: int, want: int, timeout_s: float
) -> list[dict[str, Any]]:
    """Pull until ``want`` 2xx records arrived after ``start_index`` (or the timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        await rx.pull()
        new = [r for r in rx.records[start_index:] if r.get("status") == 200]
        if len(new) >= want or time.monotonic() > deadline:
            return new
        await asyncio.sleep(0.25)


async def pipeline_burst(
    pub: Publisher,
    gen: EventGenerator,
    rx: ReceiverClient,
    count: int,
    timeout_s: float,
    per_event: int = 1,
) -> dict[str, float]:
    """Deliveries/s of a burst of ``count`` matching events, ``per_event`` deliveries each (first
    publish -> last receipt)."""
    await rx.pull()
    start_index = len(rx.records)
    began = time.time()
    futures = [
        await pub.send(gen.surveymonkey(time.time(), event_type="response_completed")) for _ in range(count)
    ]
    await asyncio.gather(*futures)
    got = await wait_receipts(rx, start_index, count * per_event, timeout_s)
    if not got:
        return {"deliveries_per_s": 0.0, "delivered": 0}
    last = max(r["t"] for r in got)
    return {"deliveries_per_s": len(got) / (last - began), "delivered": len(got)}


@dataclasses.dataclass
class SteadyRun:
    """What one steady publishing run sent (event key -> publish time) and which receipts came back."""

    count: int
    began: float
    sent: dict[str, float]
    got: list[dict[str, Any]]

    def latencies_ms(self) -> list[float]:
        return [(r["t"] - self.sent[r["key"]]) * 1000 for r in self.got]


async def steady_run(
    pub: Publisher, gen: EventGenerator, rx: ReceiverClient, rate: float, seconds: float
) -> SteadyRun:
    """Publish matching events at ``rate``/s for ``seconds`` and wait (at most 30 s) for their receipts."""
    await rx.pull()
    start_index = len(rx.records)
    sent: dict[str, float] = {}

    def make(now: float) -> Any:
        msg = gen.surveymonkey(now, event_type="response_completed")
        sent[msg.events[0].key] = now
        return msg

    count = max(1, int(rate * seconds))
    began = time.time()
    await pub.run_steady(make, count, rate)
    got = [r for r in await wait_receipts(rx, start_index, count, 30.0) if r.get("key") in sent]
    return SteadyRun(count, began, sent, got)


async def latency_at(
    pub: Publisher,
    gen: EventGenerator,
    rx: ReceiverClient,
    rate: float,
    seconds: float,
    tail: StageTail | None = None,
) -> tuple[dict[str, Any], list[EventTimes]]:
    """Publish at ``rate``/s for ``seconds``; publish->receipt latency of every delivery, and each
    delivered event's times (with its fine stages when ``tail`` follows them)."""
    run = await steady_run(pub, gen, rx, rate, seconds)
    out: dict[str, Any] = {"rate_per_s": rate, **latency_summary(run.latencies_ms())}
    receipts = {r["key"]: r["t"] for r in run.got}
    per_event: dict[str, dict[str, float]] = {}
    if tail is not None:
        await asyncio.sleep(1.0)  # the last results reach the results topic
        tail.parse()
        per_event = event_stages(run.sent, receipts, tail)
        out["stages"] = stage_summary(per_event)
    events = [
        EventTimes(
            sent_s=run.sent[key],
            latency_ms=(at - run.sent[key]) * 1000,
            stages={n: v for n, v in per_event.get(key, {}).items() if n in FINE_STAGES},
        )
        for key, at in receipts.items()
    ]
    return out, events


async def keeps_up(
    pub: Publisher, gen: EventGenerator, rx: ReceiverClient, rate: float, seconds: float
) -> dict[str, Any]:
    """Offer ``rate`` events/s for ``seconds``: does the pipeline keep up?

    Above capacity a backlog grows for the whole step, and with it the latency: the median latency
    of the last tenth of the events (in publish order) exceeds that of the first tenth by the
    backlog's growth. The delivered rate is the offered one stretched by that growth,
    ``rate * seconds / (seconds + growth)``; at or below capacity the growth is ~0 whatever the
    latency itself is.
    """
    run = await steady_run(pub, gen, rx, rate, seconds)
    ordered = sorted(run.got, key=lambda r: run.sent[r["key"]])
    lat = [(r["t"] - run.sent[r["key"]]) * 1000 for r in ordered]
    tenth = max(1, len(lat) // 10)
    growth_ms = statistics.median(lat[-tenth:]) - statistics.median(lat[:tenth]) if lat else math.inf
    delivered_rate = rate * seconds / (seconds + max(0.0, growth_ms) / 1000)
    return {
        "offered_per_s": round(rate, 1),
        "delivered_per_s": round(delivered_rate, 1),
        "latency_growth_ms": round(growth_ms, 1),
        "delivered": len(run.got),
        "kept_up": len(run.got) == run.count and delivered_rate >= KEEPS_UP * rate,
        **latency_summary(lat),
    }


class StageTail:
    """Follows the job and result topics and keeps, per generator event key, when its job and its first
    result were produced (Kafka CreateTime, ms), and the times each side wrote into them: when the
    dispatcher built the job (``dispatched_at``, right after it fetched and parsed the event) and when
    the worker started the attempt (``attempted_at``, right before the POST).

    While following, it only keeps the raw records; :meth:`parse` decodes them after the run. It shares
    the load generator's process: parsing ~1,000 JSON records a second there (as it did until
    2026-12-04) took CPU from the publisher, whose sends then waited and were charged to the
    dispatcher's hop."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.job_ms: dict[str, float] = {}
        self.result_ms: dict[str, float] = {}
        self.dispatched_ms: dict[str, float] = {}
        self.attempted_ms: dict[str, float] = {}
        self._raw: list[tuple[bool, int, bytes | None]] = []
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            group_id=None, **consumer_options(self.bootstrap, embedded_broker_client(), 50)
        )
        await self._consumer.start()
        tps = []
        for topic in (self.topics.deliveries, self.topics.deliveries_priority, self.topics.delivery_results):
            await self._consumer.topics()
            tps += [TopicPartition(topic, p) for p in self._consumer.partitions_for_topic(topic) or set()]
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        for tp in tps:
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=2000)
            for tp, records in batches.items():
                is_result = tp.topic == self.topics.delivery_results
                self._raw.extend((is_result, r.timestamp, r.value) for r in records)

    def parse(self) -> None:
        """Decode the records followed so far (the first job and the first result of each event win)."""
        raw, self._raw = self._raw, []
        for is_result, timestamp, value in raw:
            target = self.result_ms if is_result else self.job_ms
            stamps = self.attempted_ms if is_result else self.dispatched_ms
            field = "attempted_at" if is_result else "dispatched_at"
            with contextlib.suppress(ValueError, TypeError, AttributeError, KeyError):
                decoded = json.loads(value or b"")
                key = f"sm:{decoded['event_id']}"
                if key not in target:
                    target[key] = float(timestamp)
                    stamps[key] = datetime.fromisoformat(decoded[field]).timestamp() * 1000

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()


async def results_lag(config_api_url: str) -> float | None:
    """Results the config API has yet to ingest (its lag gauge on the results topic), None if unknown."""
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{config_api_url}/metrics") as resp:
            text = await resp.text()
    except aiohttp.ClientError:
        return None
    lags = [
        float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith("carehooks_kafka_consumer_lag{") and 'delivery-results"' in line
    ]
    return sum(lags) if lags else None


async def parked_total(base_urls: list[str]) -> float:
    """Jobs the workers parked so far (``carehooks_backlog_parked_total`` summed over their /metrics)."""
    total = 0.0
    async with aiohttp.ClientSession() as http:
        for url in base_urls:
            try:
                async with http.get(f"{url}/metrics") as resp:
                    text = await resp.text()
            except aiohttp.ClientError:
                continue
            total += sum(
                float(line.rpartition(" ")[2])
                for line in text.splitlines()
                if line.startswith("carehooks_backlog_parked_total ")
            )
    return total


async def settle(config_api_url: str, timeout_s: float = 60.0) -> float:
    """Wait until the config API has ingested every result of the previous phase (bounded); returns the
    seconds waited. Without it a phase pays for the previous phase's backlog: after a burst at the
    maximum rate the config API writes results to PostgreSQL for seconds, on the same two cores."""
    began = time.monotonic()
    await asyncio.sleep(1.0)  # the last results reach the results topic and the gauge
    while time.monotonic() - began < timeout_s:
        if (await results_lag(config_api_url)) == 0:
            break
        await asyncio.sleep(0.5)
    return round(time.monotonic() - began, 1)


def process_cpu(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each process: this one (the publisher, stage tail and receipts) without
    its children, which are the services, broker and receiver, counted apart."""
    out = {name: cpu_seconds(pid) for name, pid in pids.items()}
    me = psutil.Process().cpu_times()
    out["bench"] = me.user + me.system
    return out


def cores_used(pids: dict[str, int], before: dict[str, float], wall_s: float) -> dict[str, float]:
    """Cores each process used since ``before`` (see :func:`process_cpu`) over ``wall_s``."""
    now = process_cpu(pids)
    return {name: round((now[name] - before[name]) / wall_s, 2) for name in now}


def stage_summary(per_event: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """p50/p95/p99 of each stage (:func:`event_stages`) over the events it was measured for."""
    return {
        name: latency_summary([stages[name] for stages in per_event.values() if name in stages])
        for name in (*STAGES, *FINE_STAGES)
    }


def event_stages(
    sent: dict[str, float], receipts: dict[str, float], tail: StageTail
) -> dict[str, dict[str, float]]:
    """Per event whose job, receipt and result were all seen, the ms of each stage.

    Coarse stages: ``dispatcher`` (publish -> job produced), ``worker`` (job produced -> receipt),
    ``result`` (receipt -> result produced). Fine ones split them at the times each side wrote:
    ``to_dispatcher`` (publish -> the dispatcher built the job: one broker hop, its fetch and parse),
    ``job_out`` (-> the job's produce), ``to_worker`` (-> the attempt started: one broker hop, the
    worker's fetch, its queue, signing), ``post`` (-> the receiver had the request).
    """
    per_event: dict[str, dict[str, float]] = {}
    for key, published in sent.items():
        job, receipt, result = tail.job_ms.get(key), receipts.get(key), tail.result_ms.get(key)
        if job is None or receipt is None or result is None:
            continue
        stages = per_event[key] = {
            "dispatcher": job - published * 1000,
            "worker": receipt * 1000 - job,
            "result": result - receipt * 1000,
            "end_to_end": (receipt - published) * 1000,
        }
        dispatched, attempted = tail.dispatched_ms.get(key), tail.attempted_ms.get(key)
        if dispatched is None or attempted is None:
            continue
        stages["to_dispatcher"] = dispatched - published * 1000
        stages["job_out"] = job - dispatched
        stages["to_worker"] = attempted - job
        stages["post"] = receipt * 1000 - attempted
    return per_event


async def scale_out(
    sup: Supervisor,
    stack: StackConfig,
    pub: Publisher,
    gen: EventGenerator,
    rx: ReceiverClient,
    args: Any,
    per_event: int,
) -> dict[str, Any]:
    """Bursts through 1+1, 1+2 and 2+2 dispatcher+worker processes in their shared consumer groups.

    ``per_event`` webhooks get every event (bursts of ``--burst`` deliveries in all): jobs are keyed by
    webhook, so with one webhook every job lands on one partition and a second worker has nothing to
    do (until 2026-12-03 the phase measured that, and charged the idle worker to each delivery)."""
    topologies: dict[str, Any] = {}
    for dispatchers, workers in ((1, 1), (1, 2), (2, 2)):
        for module, count in (("dispatcher", dispatchers), ("delivery_worker", workers)):
            name = f"{module}_2"
            if count == 2 and name not in sup.procs:
                spec = next(s for s in service_specs(stack, (module,)))
                spec.name = name
                spec.port = free_port()
                prefix = "DISPATCHER_" if module == "dispatcher" else "DELIVERY_WORKER_"
                spec.env = {**spec.env, f"{prefix}PORT": str(spec.port)}
                sup.add(spec)
                await sup.start(name, timeout_s=120)
        await asyncio.sleep(8.0)  # the groups rebalance onto the new members
        await pipeline_burst(pub, gen, rx, 200 // per_event, 60.0, per_event)
        names = [n for n in sup.procs if n.startswith(("dispatcher", "delivery_worker"))]
        roles: dict[str, list[int]] = {"dispatcher": [], "delivery_worker": []}
        for n in names:
            process = sup.procs[n].process
            if process is not None:
                roles["dispatcher" if n.startswith("dispatcher") else "delivery_worker"].append(process.pid)
        worker_urls = [sup.procs[n].base_url for n in names if n.startswith("delivery_worker")]
        rates, cpu_ms, parked = [], [], []
        by_role: dict[str, list[float]] = {role: [] for role in roles}
        for _ in range(args.repeats):
            parked_before = await parked_total(worker_urls)
            before = {role: sum(cpu_seconds(pid) for pid in pids) for role, pids in roles.items()}
            burst = await pipeline_burst(pub, gen, rx, args.burst // per_event, 180.0, per_event)
            used = {
                role: sum(cpu_seconds(pid) for pid in pids) - before[role] for role, pids in roles.items()
            }
            # Parked jobs come back through a retry tier: a produce and a consume more each.
            parked.append(await parked_total(worker_urls) - parked_before)
            rates.append(burst["deliveries_per_s"])
            if burst["delivered"]:
                cpu_ms.append(round(sum(used.values()) * 1000 / burst["delivered"], 3))
                for role, seconds in used.items():
                    by_role[role].append(round(seconds * 1000 / burst["delivered"], 3))
        key = f"{dispatchers}d{workers}w"
        topologies[key] = {
            "dispatchers": dispatchers,
            "workers": workers,
            "deliveries_per_s": spread(rates),
            "cpu_ms_per_delivery": spread(cpu_ms),
            # Where a rise with processes comes from: the dispatchers' or the workers' share.
            "cpu_ms_per_delivery_by_role": {role: spread(v) for role, v in by_role.items()},
            "parked_per_burst": parked,
        }
        print(f"scale-out {key}: {topologies[key]}", flush=True)
    base = topologies["1d1w"]["deliveries_per_s"]["median"] or float("nan")
    for entry in topologies.values():
        entry["scaling_factor"] = round((entry["deliveries_per_s"]["median"] or 0.0) / base, 3)
    return topologies


def scale_out_base(base: StackConfig, fetch_wait_ms: int | None) -> StackConfig:
    """``base``, with the dispatchers' and workers' fetch wait at ``fetch_wait_ms`` when given."""
    if fetch_wait_ms is None:
        return base
    env = {"KAFKA_FETCH_MAX_WAIT_MS": str(fetch_wait_ms)}
    return dataclasses.replace(base, extra_env={"dispatcher": env, "delivery_worker": env})


async def scale_run(
    bootstrap: str, sup: Supervisor, stack: StackConfig, webhooks: int, events: int, rounds: int
) -> dict[str, Any]:
    """Dispatcher alone with ``webhooks`` configs on its own topics; events/s into the delivery topics."""
    prefix = f"{stack.topic_prefix}scale{webhooks}."
    topics = Topics().with_prefix(prefix)
    await ensure_topics(bootstrap, topics, embedded_broker_client())
    producer = AIOKafkaProducer(**producer_options(bootstrap, embedded_broker_client()))
    await producer.start()
    now = datetime.now(UTC)
    began = time.monotonic()
    try:
        futures = []
        for i in range(webhooks):
            if i < 3:  # the three that match every published event
                integration, itype, types = "surveymonkey", "surveymonkey", ["response_completed"]
            elif i % 2:
                integration, itype, types = (
                    "ehr",
                    "fhir",
                    [["Patient.update", "Task.*", "Observation.create"][i % 3]],
                )
            else:
                integration, itype, types = (
                    "surveymonkey",
                    "surveymonkey",
                    [["survey_created", "contact_created", "collector_deleted"][i % 3]],
                )
            config = WebhookConfigV1(
                id=f"wh_scale_{i:06d}",
                integration_id=integration,
                integration_type=itype,
                name=f"scale {i}",
                subscription_url="http://127.0.0.1:9/never",
                event_types=types,
                updated_at=now,
            )
            futures.append(
                await producer.send(topics.webhooks_config, config.to_bytes(), key=config.id.encode())
            )
            if len(futures) >= 5000:
                await asyncio.gather(*futures)
                futures = []
        await asyncio.gather(*futures)
        load_s = time.monotonic() - began
        spec = next(s for s in service_specs(stack, ("dispatcher",)))
        spec.name = f"dispatcher_scale_{webhooks}"
        spec.env = {**spec.env, "TOPIC_PREFIX": prefix, "DISPATCHER_GROUP_ID": f"{prefix}dispatcher"}
        sup.add(spec)
        began = time.monotonic()
        await sup.start(spec.name, timeout_s=300)
        ready_s = time.monotonic() - began
        gen = EventGenerator(seed=webhooks, poison_rate=0.0, run_tag="sc")
        consumer = AIOKafkaConsumer(
            group_id=None, **consumer_options(bootstrap, embedded_broker_client(), 20)
        )
        await consumer.start()
        try:
            tps = []
            for topic in (topics.deliveries, topics.deliveries_priority):
                for _ in range(50):
                    parts = consumer.partitions_for_topic(topic)
                    if parts:
                        break
                    await consumer.topics()
                    await asyncio.sleep(0.1)
                tps += [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or set()]
            consumer.assign(tps)
            await consumer.seek_to_end(*tps)
            for tp in tps:
                await consumer.position(tp)
            rates = []
            got = 0
            for _ in range(rounds):
                first = time.monotonic()
                for _ in range(events):
                    body = gen.surveymonkey(time.time(), event_type="response_completed").value
                    await producer.send(topics.surveymonkey_events, body)
                await producer.flush()
                got = 0
                last = first
                while got < 3 * events and time.monotonic() - first < 180:
                    batches = await consumer.getmany(timeout_ms=500, max_records=5000)
                    n = sum(len(v) for v in batches.values())
                    if n:
                        got += n
                        last = time.monotonic()
                rates.append(got / 3 / (last - first) if last > first else 0.0)
        finally:
            await consumer.stop()
        await asyncio.to_thread(sup.procs[spec.name].stop)
        return {
            "webhooks": webhooks,
            "events_per_s": spread(rates)["median"] or 0.0,
            "events_per_s_runs": spread(rates),
            "jobs_last_round": got,
            "config_publish_s": round(load_s, 1),
            "dispatcher_ready_s": round(ready_s, 1),
            "dispatcher_peak_rss_mb": round(sup.procs[spec.name].peak_rss / 1e6, 1),
        }
    finally:
        await producer.stop()


@dataclasses.dataclass
class Pipeline:
    """Config API, dispatcher and one worker on topics and a database of their own."""

    stack: StackConfig
    topics: Topics
    pub: Publisher
    api: ConfigApi

    async def close(self) -> None:
        await self.api.close()
        with contextlib.suppress(Exception):
            await self.pub.stop()


async def create_bench_webhook(
    api: ConfigApi, receiver: ReceiverProc, max_in_flight: int, name: str = "bench"
) -> None:
    """A webhook of the benchmarks: every SurveyMonkey ``response_completed`` to the receiver."""
    await api.create_webhook(
        "surveymonkey",
        {
            "name": name,
            "subscription_url": receiver.url(name),
            "event_types": ["response_completed"],
            "retry_policy": BENCH_RETRY,
            "timeout_ms": 5000,
            "max_in_flight": max_in_flight,
        },
    )


async def fresh_database(dsn: str, name: str) -> str:
    """Create database ``name`` on the server of ``dsn``; returns its DSN."""
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def start_pipeline(
    infra: Infra,
    sup: Supervisor,
    base: StackConfig,
    tag: str,
    receiver: ReceiverProc,
    rx: ReceiverClient,
    gen: EventGenerator,
    max_in_flight: int,
    webhooks: int = 1,
) -> Pipeline:
    """(Re)start config API, dispatcher and worker on fresh topics (``<prefix><tag>.``) and a fresh
    database, with ``webhooks`` benchmark webhooks (each gets every event), warmed up.

    Each phase that compares latencies starts from empty topics: the embedded broker's memory storage
    gets slower as its topics grow (in one run a raw hop's p50 went from 12 to 27 ms and the broker's
    CPU at the same rate from 0.6 to 0.8 cores between two repeats on the same topics), which would
    charge each repeat for the records of the ones before it. A real Kafka's log does not.
    """
    for name in [n for n in sup.procs if n.startswith(SERVICES)]:
        await asyncio.to_thread(sup.procs[name].stop)
    stack = dataclasses.replace(
        base,
        topic_prefix=f"{base.topic_prefix}{tag}.",
        dsn=await fresh_database(infra.dsn, f"bench_{tag}"),
    )
    for attempt in range(3):
        for spec in service_specs(stack):
            old = sup.procs.get(spec.name)
            sup.add(spec).peak_rss = old.peak_rss if old is not None else 0
        started = await asyncio.gather(
            *(sup.start(n, timeout_s=120) for n in SERVICES), return_exceptions=True
        )
        errors = [r for r in started if isinstance(r, BaseException)]
        if not errors:
            break
        # A port chosen free can be taken before the service binds it (this process opens thousands
        # of connections, each on an ephemeral port): start again on new ports, anything else fails.
        if attempt == 2 or not all("already in use" in str(e) for e in errors):
            raise errors[0]
        print(f"a service port was taken before it was bound, restarting on new ports: {errors[0]}")
        for name in SERVICES:
            await asyncio.to_thread(sup.procs[name].stop)
    api = ConfigApi(sup.procs["config_api"].base_url, stack.admin_token)
    for n in range(webhooks):
        await create_bench_webhook(api, receiver, max_in_flight, "bench" if n == 0 else f"bench{n}")
    topics = Topics().with_prefix(stack.topic_prefix)
    pub = Publisher(infra.bootstrap, topics)
    await pub.start()
    # warm-up: the views must have the webhook (events published before the dispatcher's view has it
    # match nothing, by design), and the first delivery opens connections
    for _ in range(10):
        warm = await pipeline_burst(pub, gen, rx, 20, 10.0, per_event=webhooks)
        print(f"warm-up {tag}: {warm}", flush=True)
        if warm["delivered"]:
            break
    return Pipeline(stack, topics, pub, api)


@dataclasses.dataclass(frozen=True)
class Rig:
    """What every latency phase runs on: broker and database, the services' supervisor, the receiver,
    and the event generator."""

    infra: Infra
    sup: Supervisor
    receiver: ReceiverProc
    rx: ReceiverClient
    gen: EventGenerator


async def measured_phase(
    rig: Rig, pipe: Pipeline, body: bytes, rate: float, seconds: float, tail: StageTail
) -> tuple[dict[str, Any], dict[str, float]]:
    """One latency run at ``rate``/s with its stages, the cores each process used, and a raw hop measured
    beside it (``raw_hop_beside``: its own process, a tenth of the rate, the same seconds); then, once
    the config API ingested the phase's results, the raw hop alone at the full rate.
    Returns (pipeline latencies, raw hop alone)."""
    raw_topics = Topics().with_prefix(f"{pipe.stack.topic_prefix}raw.")
    await ensure_topics(rig.infra.bootstrap, raw_topics, embedded_broker_client())
    body_file = REPO / ".run" / "bench" / "hop_body.json"
    body_file.parent.mkdir(parents=True, exist_ok=True)
    body_file.write_bytes(body)
    waited = await settle(rig.sup.procs["config_api"].base_url)
    pids = {name: proc.process.pid for name, proc in rig.sup.procs.items() if proc.alive() and proc.process}
    if rig.infra.broker is not None:
        pids["broker"] = rig.infra.broker.process.pid
    if rig.receiver.process is not None:
        pids["receiver"] = rig.receiver.process.pid
    probe, start_at = await start_beside(
        rig.infra.bootstrap, raw_topics.fhir_events, rate / 10, seconds, body_file
    )
    await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu_before = process_cpu(pids)
    wall_before = time.monotonic()
    res, events = await latency_at(pipe.pub, rig.gen, rig.rx, rate, seconds, tail)
    res["cores_used"] = cores_used(pids, cpu_before, time.monotonic() - wall_before)
    res["settled_after_s"] = waited
    beside = await result_of(probe)
    probe_dir = os.environ.get(FETCH_PROBE_ENV)
    if probe_dir:
        with (Path(probe_dir) / f"beside-{int(rate)}-{int(time.time())}.json").open("w") as out:
            json.dump(beside, out)
    res["raw_hop_beside"] = latency_summary([ms for _, ms in beside])
    # Were the slowest events slow while the broker's own hop was? (bench/tail_attribution.py)
    res["tail"] = attribute_tail(events, beside)
    if probe_dir and events:
        res["taken"] = await fetch_taken(Path(probe_dir), pipe.topics, events)
        with (Path(probe_dir) / f"events-{int(rate)}-{int(time.time())}.json").open("w") as out:
            json.dump([dataclasses.asdict(e) for e in events], out)
    # Alone means alone: after a busy phase the config API was still ingesting its results, and the
    # hop's p99 read 25.8 ms after the 50 % phase against 13.7 after the 25 % one (2026-12-04 02:10).
    res["hop_alone_settled_after_s"] = await settle(rig.sup.procs["config_api"].base_url)
    hop = await raw_hop_latency(rig.infra.bootstrap, raw_topics.surveymonkey_events, body, rate, seconds)
    return res, hop


FETCH_PROBE_ENV = "CAREHOOKS_FETCH_PROBE_DIR"
"""Set by ``--fetch-times``: the services log when they took each record (bench/fetch_probe)."""


def enable_fetch_probe(run_dir: Path) -> Path:
    """Make every process started from now on log when it took each record (``--fetch-times``)."""
    directory = run_dir / "fetch"
    directory.mkdir(parents=True, exist_ok=True)
    probe = str(Path(__file__).resolve().parent / "fetch_probe")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (probe, os.environ.get("PYTHONPATH")) if p)
    os.environ[FETCH_PROBE_ENV] = str(directory)
    return directory


async def fetch_taken(directory: Path, topics: Topics, events: list[EventTimes]) -> dict[str, Any]:
    """Publish → the dispatcher took the event, job produced → the worker took the job, over the phase."""
    await asyncio.sleep(1.5)  # the services write what they took at most once a second
    since = min(e.sent_s for e in events) * 1000
    until = max(e.sent_s + e.latency_ms / 1000 for e in events) * 1000
    samples = read_probe_dir(directory)
    return {
        "to_dispatcher_taken": taken_summary(samples, topics.surveymonkey_events, since, until),
        "to_worker_taken": taken_summary(samples, topics.deliveries, since, until),
        # The dispatcher's producer: job handed to it → the broker's acknowledgement back.
        "job_acked": taken_summary(samples, f"ack:{topics.deliveries}", since, until),
        # Every process's garbage collections in the phase (each stops that process's loop).
        "gc": gc_pauses(directory, since, until),
    }


async def latency_repeat(
    rig: Rig, pipe: Pipeline, body: bytes, max_rate: float, args: argparse.Namespace
) -> list[tuple[str, dict[str, Any], dict[str, float]]]:
    """The 25/50/75 % phases on one pipeline (:func:`measured_phase`); per phase (percent, pipeline
    latencies with stages, cores used and the raw hop beside, raw hop alone)."""
    tail = StageTail(rig.infra.bootstrap, pipe.topics)
    await tail.start()
    out = []
    try:
        for pct in ("25", "50", "75"):
            rate = max_rate * int(pct) / 100
            res, hop = await measured_phase(rig, pipe, body, rate, args.latency_seconds, tail)
            out.append((pct, res, hop))
    finally:
        await tail.stop()
    return out


async def latency_only(
    rig: Rig, base: StackConfig, body: bytes, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """``--repeats`` latency runs at ``--latency-only`` events/s, each on a fresh pipeline
    (:func:`measured_phase`): end-to-end, raw hop alone and beside, and the fine stages (p50, p99), and
    the cores each process used."""
    rate = args.latency_only
    runs = []
    for i in range(args.repeats):
        pipe = await start_pipeline(
            rig.infra, rig.sup, base, f"lo{i}", rig.receiver, rig.rx, rig.gen, args.max_in_flight
        )
        tail = StageTail(rig.infra.bootstrap, pipe.topics)
        await tail.start()
        try:
            res, hop = await measured_phase(rig, pipe, body, rate, args.latency_seconds, tail)
        finally:
            await tail.stop()
            await pipe.close()
        beside = res["raw_hop_beside"]
        line = {
            "e2e": [res.get("p50"), res.get("p99")],
            "raw_hop": [hop.get("p50"), hop.get("p99")],
            "raw_hop_beside": [beside.get("p50"), beside.get("p99")],
            "p99_vs_raw_hop": round(res["p99"] / hop["p99"], 2) if hop.get("p99") else None,
            "p99_vs_beside": round(res["p99"] / beside["p99"], 2) if beside.get("p99") else None,
            **{s: [res["stages"][s].get("p50"), res["stages"][s].get("p99")] for s in FINE_STAGES},
            "tail": res["tail"],
            **{k: [v.get("p50"), v.get("p99")] for k, v in res.get("taken", {}).items() if k != "gc"},
            **({"gc": res["taken"]["gc"]} if "taken" in res else {}),
            "cores": res["cores_used"],
        }
        print(f"latency-only {i + 1} at {rate}/s: {json.dumps(line)}", flush=True)
        runs.append(line)
    return runs


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_dir = REPO / ".run" / "bench" / time.strftime("%Y%m%d-%H%M%S")
    if args.fetch_times:
        enable_fetch_probe(run_dir)
    infra = start_infra(run_dir)
    sup = Supervisor(run_dir)
    base = StackConfig(
        infra.bootstrap,
        infra.dsn,
        f"bench{int(time.time())}.",
        generate_key(),
        "bench-" + secrets.token_urlsafe(32),
    )
    receiver = ReceiverProc(run_dir, verify=False)
    receiver.start()
    rx = ReceiverClient(receiver.base_url)
    out: dict[str, Any] = {
        "machine": machine(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": vars(args),
    }
    gen = EventGenerator(seed=1, poison_rate=0.0, run_tag="b")
    pipe: Pipeline | None = None
    try:
        pipe = await start_pipeline(infra, sup, base, "tp", receiver, rx, gen, args.max_in_flight)
        if args.scale_out_only:  # the scale-out phase alone, for A/B runs of what it measures
            await pipe.close()
            pipe = await start_pipeline(
                infra,
                sup,
                scale_out_base(base, args.scale_out_fetch_wait_ms),
                "so",
                receiver,
                rx,
                gen,
                args.max_in_flight,
                args.scale_out_webhooks,
            )
            out["scale_out"] = await scale_out(
                sup, pipe.stack, pipe.pub, gen, rx, args, args.scale_out_webhooks
            )
            return out
        body = sample_body(gen)
        if args.latency_only is not None:  # one rate, fresh pipelines, for A/B runs of the latency budget
            out["latency_only"] = await latency_only(Rig(infra, sup, receiver, rx, gen), base, body, args)
            return out
        raw_topic = Topics().with_prefix(f"{pipe.stack.topic_prefix}raw.").surveymonkey_events
        await ensure_topics(
            infra.bootstrap, Topics().with_prefix(f"{pipe.stack.topic_prefix}raw."), embedded_broker_client()
        )
        runs: dict[str, list[float]] = {"raw_http": [], "produce": [], "consume": [], "pipeline": []}
        latency_runs: dict[str, list[dict[str, Any]]] = {"25": [], "50": [], "75": []}
        for i in range(args.repeats):
            runs["raw_http"].append(await raw_http(receiver.url("raw"), body, args.http_seconds))
            broker = await raw_broker(infra.bootstrap, raw_topic, body, args.broker_messages)
            runs["produce"].append(broker["produce_per_s"])
            runs["consume"].append(broker["consume_per_s"])
            burst = await pipeline_burst(pipe.pub, gen, rx, args.burst, 180.0)
            runs["pipeline"].append(burst["deliveries_per_s"])
            print(
                f"repeat {i + 1}: raw_http={runs['raw_http'][-1]:.0f}/s broker={broker} pipeline={burst}",
                flush=True,
            )
        if args.throughput_only:  # an A/B of a hot-path change: the pipeline ratio alone
            out["throughput"] = {name: spread(values) for name, values in runs.items()}
            out["ratios"] = {
                "per_run_pipeline_vs_raw_http": [
                    round(p / r, 3) for p, r in zip(runs["pipeline"], runs["raw_http"], strict=True)
                ]
            }
            return out
        burst_max = spread(runs["pipeline"])["median"] or 1.0
        # The latency phases run at fractions of what the pipeline sustains, not of what it drains
        # from a backlog: a burst is processed in large cheap batches, steady arrivals in small ones,
        # and at 75 % of the burst figure the pipeline fell behind (2026-12-03: p99 19x the raw hop).

        async def ramp_step(rate: float, tag: str = "ramp") -> dict[str, Any]:
            # Each step on a fresh pipeline, like the latency repeats, so no step inherits another's
            # backlog or consumer state (the topics' size itself costs the embedded broker nothing
            # measurable: docs/chaos.md, 2026-12-04).
            nonlocal pipe
            if pipe is not None:
                await pipe.close()
            pipe = await start_pipeline(
                infra, sup, base, f"{tag}{int(rate)}", receiver, rx, gen, args.max_in_flight
            )
            await settle(sup.procs["config_api"].base_url)
            return await keeps_up(pipe.pub, gen, rx, rate, args.ramp_seconds)

        out["sustained"] = await sustained_max(ramp_step, burst_max)
        max_rate = out["sustained"]["sustained_per_s"] or burst_max * 0.3
        hop_runs: dict[str, list[dict[str, float]]] = {"25": [], "50": [], "75": []}
        out["rechecked"] = []
        for i in range(args.repeats):
            recheck = await recheck_max(partial(ramp_step, tag=f"re{i}_"), max_rate)
            out["rechecked"].append(recheck)
            await pipe.close()
            pipe = await start_pipeline(infra, sup, base, f"lat{i}", receiver, rx, gen, args.max_in_flight)
            for pct, res, hop in await latency_repeat(
                Rig(infra, sup, receiver, rx, gen), pipe, body, recheck["max_per_s"], args
            ):
                latency_runs[pct].append(res)
                hop_runs[pct].append(hop)
                print(f"latency repeat {i + 1} at {pct}%: {res} raw hop {hop}", flush=True)
        out["throughput"] = {k: spread(v) for k, v in runs.items()}
        med = {k: out["throughput"][k]["median"] or float("nan") for k in runs}
        out["ratios"] = {
            "pipeline_vs_raw_http": round(med["pipeline"] / med["raw_http"], 3),
            "pipeline_vs_broker_produce": round(med["pipeline"] / med["produce"], 3),
            "pipeline_vs_broker_consume": round(med["pipeline"] / med["consume"], 3),
            "per_run_pipeline_vs_raw_http": [
                round(p / h, 3) for p, h in zip(runs["pipeline"], runs["raw_http"], strict=True)
            ],
        }
        out["latency_ms"] = {
            f"{pct}%": {
                "rate_per_s": spread([r["rate_per_s"] for r in rs]),
                **{q: spread([r.get(q, float("nan")) for r in rs]) for q in ("p50", "p95", "p99")},
            }
            for pct, rs in latency_runs.items()
        }
        out["latency_budget_ms"] = {
            f"{pct}%": {
                **{
                    stage: {
                        q: spread([r["stages"][stage].get(q, float("nan")) for r in rs if "stages" in r])[
                            "median"
                        ]
                        for q in ("p50", "p95", "p99")
                    }
                    for stage in (*STAGES, *FINE_STAGES)
                },
                "raw_hop": {
                    q: spread([h.get(q, float("nan")) for h in hop_runs[pct]])["median"]
                    for q in ("p50", "p95", "p99")
                },
                # the same hop measured while the pipeline ran (own process, a tenth of the rate)
                "raw_hop_beside": {
                    q: spread([r.get("raw_hop_beside", {}).get(q, float("nan")) for r in rs])["median"]
                    for q in ("p50", "p95", "p99")
                },
                # Whose the p99 tail is: the share of the slowest events that overlapped a stall of
                # the raw hop beside, against ordinary moments (bench/tail_attribution.py).
                "tail": combine([r.get("tail", {}) for r in rs]),
                # With --fetch-times: each hop until the service took the record (bench/fetch_times.py).
                **(
                    {
                        "taken": {
                            hop: {
                                q: spread([r["taken"][hop].get(q, float("nan")) for r in rs if "taken" in r])[
                                    "median"
                                ]
                                for q in ("p50", "p95", "p99")
                            }
                            for hop in ("to_dispatcher_taken", "to_worker_taken", "job_acked")
                        }
                    }
                    if any("taken" in r for r in rs)
                    else {}
                ),
                # How busy the 2 cores were: near 2.0 in all, every stage queues for a CPU.
                "cores_used": {
                    name: spread([r["cores_used"][name] for r in rs if name in r.get("cores_used", {})])[
                        "median"
                    ]
                    for name in (rs[0].get("cores_used", {}) if rs else {})
                },
            }
            for pct, rs in latency_runs.items()
        }
        for budget in out["latency_budget_ms"].values():
            for floor in ("raw_hop", "raw_hop_beside"):
                hop99 = budget[floor]["p99"]
                budget[f"end_to_end_p99_vs_{floor}_p99"] = (
                    round(budget["end_to_end"]["p99"] / hop99, 2) if hop99 and hop99 == hop99 else None
                )
        if args.scale_out:
            # Twice: on make run's 10 ms fetch wait, then with every dispatcher and worker polling a
            # tenth as often (the embedded broker holds a fetch for its whole wait, so each process's
            # empty fetches cost CPU that a real Kafka's early-answered long poll does not).
            for key, wait_ms in (("scale_out", args.scale_out_fetch_wait_ms), ("scale_out_long_poll", 100)):
                await pipe.close()
                for name in [n for n in sup.procs if n.endswith("_2")]:
                    await asyncio.to_thread(sup.procs[name].stop)
                    del sup.procs[name]
                pipe = await start_pipeline(
                    infra,
                    sup,
                    scale_out_base(base, wait_ms),
                    key,
                    receiver,
                    rx,
                    gen,
                    args.max_in_flight,
                    args.scale_out_webhooks,
                )
                out[key] = await scale_out(sup, pipe.stack, pipe.pub, gen, rx, args, args.scale_out_webhooks)
                out[f"{key}_fetch_wait_ms"] = wait_ms
            out["scale_out_webhooks"] = args.scale_out_webhooks
        out["peak_rss_mb"] = sup.peak_rss_mb()
        # the pipeline's services would only add noise to the dispatcher-alone measurements
        for name in ("delivery_worker", "dispatcher", "delivery_worker_2", "dispatcher_2"):
            if name in sup.procs:
                await asyncio.to_thread(sup.procs[name].stop)
        scales = []
        for n in args.scales:
            res = await scale_run(infra.bootstrap, sup, base, n, args.scale_events, args.repeats)
            print(f"scale {n}: {res}", flush=True)
            scales.append(res)
        out["dispatcher_scale"] = scales
        if scales and scales[0]["events_per_s"]:
            out["dispatcher_scale_ratio_vs_smallest"] = {
                str(s["webhooks"]): round(s["events_per_s"] / scales[0]["events_per_s"], 3) for s in scales
            }
        return out
    finally:
        if pipe is not None:
            await pipe.close()
        await rx.close()
        receiver.stop()
        sup.shutdown()
        infra.close()


def machine() -> dict[str, Any]:
    import platform

    import psutil

    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def render(out: dict[str, Any]) -> str:
    t = out["throughput"]
    lines = [
        f"system benchmark {out['date']} on {out['machine']['cpus']} CPUs / {out['machine']['memory_gb']} GB",
        f"{'metric':<44}{'median':>10}{'min':>10}{'max':>10}{'spread':>9}",
    ]
    names = {
        "pipeline": "pipeline deliveries/s (dispatcher+1 worker)",
        "raw_http": "raw aiohttp POST/s to the same receiver",
        "produce": "raw broker produce msg/s",
        "consume": "raw broker consume msg/s",
    }
    for key, label in names.items():
        s = t[key]
        lines.append(f"{label:<44}{s['median']:>10}{s['min']:>10}{s['max']:>10}{s['spread_pct']:>8}%")
    r = out["ratios"]
    lines.append(
        f"ratio pipeline/raw HTTP = {r['pipeline_vs_raw_http']} (per run {r['per_run_pipeline_vs_raw_http']}), "
        f"pipeline/broker produce = {r['pipeline_vs_broker_produce']}"
    )
    if "sustained" in out:
        sus = out["sustained"]
        lines.append(
            f"sustained maximum (rate ramp): {sus['sustained_per_s']}/s = {sus['of_burst_max']} of the "
            f"burst figure; steps: "
            + ", ".join(f"{x['offered_per_s']}->{x['delivered_per_s']}" for x in sus["steps"])
        )
        lines.append(
            "re-checked right before each latency repeat (the host's speed drifts): "
            + ", ".join(f"{r['max_per_s']}/s ({r['of_ramp_max']})" for r in out.get("rechecked", []))
        )
    for pct, lat in out["latency_ms"].items():
        lines.append(
            f"latency at {pct} of the re-checked max ({rate_text(lat['rate_per_s'])}/s): p50 {lat['p50']['median']} ms, "
            f"p95 {lat['p95']['median']} ms, p99 {lat['p99']['median']} ms (medians of runs)"
        )
    for pct, b in out.get("latency_budget_ms", {}).items():
        stages = ", ".join(
            f"{name} {b[name]['p50']}/{b[name]['p95']}/{b[name]['p99']}"
            for name in ("dispatcher", "worker", "result", "raw_hop")
        )
        lines.append(
            f"budget at {pct} (p50/p95/p99 ms): {stages}; end-to-end p99 / raw hop p99 = "
            f"{b['end_to_end_p99_vs_raw_hop_p99']}"
        )
        if b.get("raw_hop_beside"):
            beside = b["raw_hop_beside"]
            lines.append(
                f"  raw hop beside the pipeline at {pct}: {beside['p50']}/{beside['p95']}/{beside['p99']}; "
                f"end-to-end p99 / its p99 = {b.get('end_to_end_p99_vs_raw_hop_beside_p99')}"
            )
        if "post" in b:
            fine = ", ".join(
                f"{name} {b[name]['p50']}/{b[name]['p95']}/{b[name]['p99']}" for name in FINE_STAGES
            )
            lines.append(f"  finer at {pct}: {fine}")
        if b.get("taken"):
            taken = ", ".join(f"{hop} {v['p50']}/{v['p95']}/{v['p99']}" for hop, v in b["taken"].items())
            lines.append(f"  until the service took the record at {pct}: {taken}")
        tail = b.get("tail", {})
        if tail.get("runs"):
            slowest = ", ".join(f"{name} {share}" for name, share in tail["slowest_stage"].items())
            lines.append(
                f"  p99 tail at {pct}: {tail['tail_meeting_probe_stall']} of its events overlapped a stall "
                f"of the raw hop beside, ordinary moments {tail['ordinary_meeting_probe_stall']} (per run "
                f"{tail['per_run']}); slowest stage of each: {slowest}"
            )
        if b.get("cores_used"):
            used = ", ".join(f"{name} {value}" for name, value in b["cores_used"].items())
            lines.append(f"  cores used at {pct}: {used} (total {round(sum(b['cores_used'].values()), 2)})")
    for s in out.get("dispatcher_scale", []):
        lines.append(
            f"dispatcher with {s['webhooks']:>7} webhooks: {s['events_per_s']} events/s "
            f"(ready after {s['dispatcher_ready_s']} s, RSS {s['dispatcher_peak_rss_mb']} MB)"
        )
    for phase in ("scale_out", "scale_out_long_poll"):
        wait_ms = out.get(f"{phase}_fetch_wait_ms")
        wait = f"{wait_ms} ms" if wait_ms else "make run's"
        for key, s in out.get(phase, {}).items():
            roles = s.get("cpu_ms_per_delivery_by_role", {})
            split = " + ".join(
                f"{roles[r]['median']}" for r in ("dispatcher", "delivery_worker") if r in roles
            )
            lines.append(
                f"scale-out {key} (fetch wait {wait}): {s['deliveries_per_s']['median']} deliveries/s, "
                f"scaling factor {s['scaling_factor']}, CPU {s['cpu_ms_per_delivery']['median']} ms per "
                f"delivery (dispatchers + workers {split}), parked per burst {s.get('parked_per_burst')}"
            )
    if "dispatcher_scale_ratio_vs_smallest" in out:
        lines.append(f"dispatcher throughput vs smallest: {out['dispatcher_scale_ratio_vs_smallest']}")
    lines.append(f"peak RSS MB: {out['peak_rss_mb']}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--http-seconds", type=float, default=4.0)
    p.add_argument("--broker-messages", type=int, default=10_000)
    p.add_argument("--burst", type=int, default=3000, help="events per pipeline burst")
    p.add_argument("--latency-seconds", type=float, default=8.0)
    p.add_argument("--ramp-seconds", type=float, default=10.0, help="length of each step of the rate ramp")
    p.add_argument("--max-in-flight", type=int, default=64)
    p.add_argument(
        "--scales", type=lambda s: [int(x) for x in s.split(",") if x], default=[10, 10_000, 100_000]
    )
    p.add_argument("--scale-events", type=int, default=5000)
    p.add_argument(
        "--no-scale-out", dest="scale_out", action="store_false", help="skip the 1+1 / 1+2 / 2+2 phase"
    )
    p.add_argument(
        "--scale-out-webhooks",
        type=int,
        default=8,
        help="webhooks of the scale-out phase (each gets every event; jobs are keyed, so partitioned, by webhook)",
    )
    p.add_argument(
        "--payload-encryption",
        choices=["on", "off"],
        default="on",
        help="KAFKA_PAYLOAD_ENCRYPTION of every service (off writes system_plaintext.json unless --out)",
    )
    p.add_argument(
        "--throughput-only",
        action="store_true",
        help="only the raw baselines and the pipeline bursts (pipeline / raw HTTP per run), for A/B runs",
    )
    p.add_argument(
        "--scale-out-only",
        action="store_true",
        help="only the scale-out phase (1+1, 1+2, 2+2 processes), for A/B runs",
    )
    p.add_argument(
        "--scale-out-fetch-wait-ms",
        type=int,
        default=None,
        help="KAFKA_FETCH_MAX_WAIT_MS of the scale-out phase's dispatchers and workers (default: make run's)",
    )
    p.add_argument(
        "--latency-only",
        type=float,
        default=None,
        metavar="RATE",
        help="only the latency phase at RATE events/s (with its stages and the raw hop), for A/B runs",
    )
    p.add_argument(
        "--fetch-times",
        action="store_true",
        help="also split each hop at the moment the service took the record (bench/fetch_probe; "
        "the logging adds a little CPU to every service, so not in make bench)",
    )
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.out is None:
        name = "system.json" if args.payload_encryption == "on" else "system_plaintext.json"
        if args.latency_only is not None:
            name = "system_latency_only.json"
        args.out = REPO / "bench" / "results" / name
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The services get this process's environment (chaos_lib.stack): every one reads the setting.
    os.environ["KAFKA_PAYLOAD_ENCRYPTION"] = "true" if args.payload_encryption == "on" else "false"
    # The load generator runs like the services (uvloop, tuned garbage collector). With CPython's
    # default GC its full collections (90-100 ms every ~5 s, walking the measurements' dicts)
    # paused the publisher, which then caught up with a clump of ~150 events at once: at 50 % load
    # that clump, not the pipeline, made most of the p99 (2026-12-03: 1,500 events/s, e2e p99
    # 100-233 ms with the default GC, 46 ms tuned), and the same pauses inflated the raw hop.
    interrupt_on_sigterm()  # stopped by kill or by run_all's timeout: still stop the stack it started
    out = run_tuned(run(args), "uvloop")
    out["payload_encryption"] = args.payload_encryption
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, default=str) + "\n")
    if args.throughput_only:
        print(f"pipeline / raw HTTP per run: {out['ratios']['per_run_pipeline_vs_raw_http']}")
        return 0
    if args.scale_out_only:
        print(json.dumps(out["scale_out"], indent=1))
        return 0
    if args.latency_only is not None:
        return 0
    print(render(out))
    print(f"\nresults: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
