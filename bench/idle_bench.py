"""Idle cost: CPU per service while nothing happens, and the latency a trickle of events sees.

For each polling profile and each number of configured webhooks, the four services start on their
own topics, wait until ready, settle, and then sit idle for ``--seconds`` while the CPU time of each
process (and the broker's) is read from /proc before and after. Then a trickle of events (one every
``--trickle-interval-s``) goes through dispatcher and worker to a receiver and publish→receipt
latency is recorded, so a cheaper idle is never bought with a slower pipeline unnoticed.

Profiles:
- ``real``: the production defaults (Kafka's long poll: 500 ms fetch wait). On a real cluster a
  fetch returns as soon as data arrives; the embedded broker does not answer early, so on it this
  profile shows the idle cost of the defaults but not their latency on a real cluster.
- ``embedded``: what ``make run`` sets for the embedded broker (``devstack.broker.EMBEDDED_BROKER_ENV``).

Webhooks are written straight to the config topic (as ``system_bench``'s scale runs do): the
services build their view from it. JSON in bench/results/idle.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from aiokafka import AIOKafkaProducer
from chaos_lib.api import ConfigApi
from chaos_lib.events import EventGenerator
from chaos_lib.kafka_io import Publisher
from chaos_lib.measure import cpu_seconds, latency_summary
from chaos_lib.stack import (
    REPO,
    ReceiverClient,
    ReceiverProc,
    ServiceSpec,
    StackConfig,
    Supervisor,
    start_infra,
)

from contracts.topics import Topics
from contracts.webhooks import WebhookConfigV1
from devstack.broker import EMBEDDED_BROKER_ENV
from devstack.ports import free_port
from devstack.processes import interrupt_on_sigterm
from service_kit.kafka import ensure_topics, producer_options
from service_kit.kafka_security import embedded_broker_client
from webhook_core.secrets_crypto import generate_key

SERVICE_MODULES = ("config_api", "dispatcher", "delivery_worker", "dlq_replayer")
# Polling settings of the embedded profile; the real profile leaves them at their defaults. The
# other embedded settings (no idempotence, topics auto-created) are needed by the broker itself and
# do not change how often anyone polls, so both profiles keep them.
POLLING_KEYS = (
    "KAFKA_FETCH_MAX_WAIT_MS",
    "KAFKA_BACKGROUND_FETCH_MAX_WAIT_MS",
    "KAFKA_IDLE_FETCH_MAX_WAIT_MS",
    "DELIVERY_WORKER_POLL_TIMEOUT_MS",
    "DELIVERY_WORKER_RETRY_FETCH_MAX_WAIT_MS",
)


# The partitions of every topic before 2026-12-04 (the embedded profile has 2 since): the real and flat
# profiles keep them, so their rows stay comparable with the earlier ones.
SIX_PARTITIONS = {"KAFKA_AUTO_CREATE_PARTITIONS": "6"}


def profile_env(profile: str) -> dict[str, str]:
    """The broker-related environment of a profile: ``embedded``, ``real``, ``flat`` (the embedded
    profile with every consumer at the short wait), or ``wait:<ms>`` (the embedded profile with another
    fetch wait, to show what a longer wait buys and costs)."""
    if profile == "embedded":
        return dict(EMBEDDED_BROKER_ENV)
    if (
        profile == "flat"
    ):  # every consumer at the short wait, no pacing (the embedded profile before 2026-12-02)
        short = EMBEDDED_BROKER_ENV["KAFKA_FETCH_MAX_WAIT_MS"]
        flat = {k: v for k, v in EMBEDDED_BROKER_ENV.items() if k != "KAFKA_IDLE_FETCH_MAX_WAIT_MS"}
        return {**flat, "KAFKA_BACKGROUND_FETCH_MAX_WAIT_MS": short, **SIX_PARTITIONS}
    if profile.startswith("wait:"):
        return {**EMBEDDED_BROKER_ENV, "KAFKA_FETCH_MAX_WAIT_MS": str(int(profile.removeprefix("wait:")))}
    if profile != "real":
        raise SystemExit(f"unknown profile {profile!r}: real, embedded, flat or wait:<ms>")
    return {**{k: v for k, v in EMBEDDED_BROKER_ENV.items() if k not in POLLING_KEYS}, **SIX_PARTITIONS}


def specs(cfg: StackConfig, profile: str) -> list[ServiceSpec]:
    """The four services on free ports with their own consumer groups."""
    common = {
        **profile_env(profile),
        "KAFKA_BOOTSTRAP_SERVERS": cfg.bootstrap,
        "TOPIC_PREFIX": cfg.topic_prefix,
        "WEBHOOK_SECRETS_KEY": cfg.secrets_key,
        "WEBHOOK_ALLOW_HTTP": "true",
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "LOG_JSON": "true",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    out = []
    for module in SERVICE_MODULES:
        prefix = module.upper() + "_"
        port = free_port()
        env = {**common, f"{prefix}HOST": "127.0.0.1", f"{prefix}PORT": str(port)}
        if module in ("config_api", "dlq_replayer"):
            env |= {"DATABASE_URL": cfg.dsn, "ADMIN_TOKEN": cfg.admin_token}
        if module in ("dispatcher", "delivery_worker"):
            env[f"{prefix}GROUP_ID"] = f"{cfg.topic_prefix}{module}"
        out.append(ServiceSpec(name=module, module=module, port=port, env=env))
    return out


async def write_webhooks(bootstrap: str, topics: Topics, count: int, url: str) -> None:
    """``count`` webhook configs straight onto the config topic (none match the trickle's events)."""
    producer = AIOKafkaProducer(**producer_options(bootstrap, embedded_broker_client()))
    await producer.start()
    now = datetime.now(UTC)
    try:
        pending = []
        for i in range(count):
            config = WebhookConfigV1(
                id=f"wh_idle_{i:06d}",
                integration_id="ehr",
                integration_type="fhir",
                name=f"idle {i}",
                subscription_url=url,
                event_types=[["Patient.update", "Task.*", "Observation.create"][i % 3]],
                updated_at=now,
            )
            pending.append(
                await producer.send(topics.webhooks_config, config.to_bytes(), key=config.id.encode())
            )
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def one_run(
    infra: Any, run_dir: Path, profile: str, webhooks: int, args: argparse.Namespace
) -> dict[str, Any]:
    tag = "".join(c for c in profile if c.isalnum())
    prefix = f"idle{int(time.time())}{tag}{webhooks}."
    cfg = StackConfig(
        infra.bootstrap, infra.dsn, prefix, generate_key(), "bench-" + secrets.token_urlsafe(24)
    )
    topics = Topics().with_prefix(prefix)
    partitions = int(profile_env(profile)["KAFKA_AUTO_CREATE_PARTITIONS"])
    await ensure_topics(infra.bootstrap, topics, embedded_broker_client(), partitions)
    own_dir = run_dir / f"{tag}-{webhooks}"
    own_dir.mkdir(parents=True, exist_ok=True)
    receiver = ReceiverProc(own_dir, verify=False)
    receiver.start()
    rx = ReceiverClient(receiver.base_url)
    if webhooks:
        await write_webhooks(infra.bootstrap, topics, webhooks, receiver.url("idle"))
    sup = Supervisor(own_dir)
    for spec in specs(cfg, profile):
        sup.add(spec)
    pub = Publisher(infra.bootstrap, topics)
    try:
        for module in SERVICE_MODULES:  # config API first: it applies the migrations
            await sup.start(module, timeout_s=300)
        await asyncio.sleep(args.settle_s)
        pids = {m: sup.procs[m].process.pid for m in SERVICE_MODULES}  # type: ignore[union-attr]
        broker_pid = infra.broker.process.pid if infra.broker is not None else None
        before = {m: cpu_seconds(p) for m, p in pids.items()}
        broker_before = cpu_seconds(broker_pid) if broker_pid else 0.0
        began = time.monotonic()
        await asyncio.sleep(args.seconds)
        wall = time.monotonic() - began
        cores = {m: round((cpu_seconds(p) - before[m]) / wall, 4) for m, p in pids.items()}
        broker_cores = round((cpu_seconds(broker_pid) - broker_before) / wall, 4) if broker_pid else None
        # The trickle: one matching webhook, events one by one, publish -> receipt.
        api = ConfigApi(sup.procs["config_api"].base_url, cfg.admin_token)
        await api.create_webhook(
            "surveymonkey",
            {
                "name": "trickle",
                "subscription_url": receiver.url("trickle"),
                "event_types": ["response_completed"],
            },
        )
        await pub.start()
        gen = EventGenerator(seed=webhooks, poison_rate=0.0, run_tag=f"i{tag}")
        await asyncio.sleep(2.0)  # the views take the new webhook
        latencies = []
        await rx.pull()
        for _ in range(args.trickle):
            sent = time.time()
            msg = gen.surveymonkey(sent, event_type="response_completed")
            key = msg.events[0].key
            await (await pub.send(msg))
            deadline = time.monotonic() + 10
            got: list[dict[str, Any]] = []
            while not got and time.monotonic() < deadline:
                got = [r for r in await rx.pull() if r.get("key") == key]
                if not got:
                    await asyncio.sleep(0.005)
            if got:
                latencies.append((got[0]["t"] - sent) * 1000)
            await asyncio.sleep(args.trickle_interval_s)
        await api.close()
        return {
            "profile": profile,
            "webhooks": webhooks,
            "idle_seconds": round(wall, 1),
            "cores": cores,
            "cores_services_total": round(sum(cores.values()), 4),
            "broker_cores": broker_cores,
            "trickle_latency_ms": latency_summary(latencies),
            "trickle_delivered": len(latencies),
        }
    finally:
        await pub.stop()
        await rx.close()
        sup.shutdown()
        receiver.stop()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_dir = REPO / ".run" / "bench" / ("idle-" + time.strftime("%Y%m%d-%H%M%S"))
    infra = start_infra(run_dir)
    out: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": vars(args),
        "runs": [],
    }
    try:
        for profile in args.profiles.split(","):
            for count in (int(c) for c in args.webhooks.split(",")):
                result = await one_run(infra, run_dir, profile, count, args)
                print(json.dumps(result), flush=True)
                out["runs"].append(result)
    finally:
        infra.close()
    out["table"] = {
        f"{r['profile']}/{r['webhooks']}": r["cores"] | {"broker": r["broker_cores"]} for r in out["runs"]
    }
    return out


def render(out: dict[str, Any]) -> str:
    lines = [
        f"{'profile/webhooks':<22}"
        + "".join(f"{m:>16}" for m in (*SERVICE_MODULES, "services", "broker"))
        + f"{'trickle p50/p99 ms':>22}"
    ]
    for r in out["runs"]:
        cells = [r["cores"][m] for m in SERVICE_MODULES] + [r["cores_services_total"], r["broker_cores"]]
        lat = r["trickle_latency_ms"]
        lines.append(
            f"{r['profile'] + '/' + str(r['webhooks']):<22}"
            + "".join(f"{c:>16}" for c in cells)
            + f"{str(lat.get('p50')) + '/' + str(lat.get('p99')):>22}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=30.0, help="idle measurement window per run")
    p.add_argument("--settle-s", type=float, default=10.0, help="wait after ready before measuring")
    p.add_argument("--webhooks", default="0,10000")
    p.add_argument(
        "--profiles", default="real,embedded,flat", help="real, embedded, flat, wait:<ms> (comma list)"
    )
    p.add_argument("--trickle", type=int, default=20, help="events sent one by one after the idle window")
    p.add_argument("--trickle-interval-s", type=float, default=0.5)
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "idle.json"))
    args = p.parse_args(argv)
    interrupt_on_sigterm()  # stopped by kill or by run_all's timeout: still stop the stack it started
    out = asyncio.run(run(args))
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(render(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
