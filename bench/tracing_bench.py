"""Tracing cost: pipeline throughput with tracing off and on, in one run.

The stack (config API, dispatcher, one delivery worker) runs as processes against the embedded broker;
bursts of SurveyMonkey events go through dispatcher and worker to the recording receiver
(deliveries/s from first publish to last receipt, as in system_bench). "on" restarts the three
services with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at a local OTLP/HTTP collector stub (an aiohttp
server answering 200 on /v1/traces, counting the export requests); "off" restarts them without it.
Modes alternate within each repeat so that drift on a noisy machine hits both. The figure to read is
the ratio on/off of the medians. JSON in bench/results/tracing.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos_lib.api import ConfigApi
from chaos_lib.events import EventGenerator
from chaos_lib.kafka_io import Publisher
from chaos_lib.measure import spread
from chaos_lib.stack import (
    REPO,
    ReceiverClient,
    ReceiverProc,
    StackConfig,
    Supervisor,
    service_specs,
    start_infra,
)
from system_bench import create_bench_webhook, machine, pipeline_burst

from contracts.topics import Topics
from devstack.ports import free_port
from devstack.processes import interrupt_on_sigterm
from webhook_core.secrets_crypto import generate_key

TRACED = ("config_api", "dispatcher", "delivery_worker")


async def collector_stub() -> tuple[web.AppRunner, str, dict[str, int]]:
    """An OTLP/HTTP trace collector that accepts everything: 200 on POST /v1/traces."""
    seen = {"requests": 0, "bytes": 0}

    async def traces(request: web.Request) -> web.Response:
        seen["requests"] += 1
        seen["bytes"] += len(await request.read())
        return web.Response(status=200, content_type="application/x-protobuf", body=b"")

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}", seen


async def switch(sup: Supervisor, endpoint: str | None) -> None:
    """Restart the traced services with tracing on (``endpoint``) or off."""
    for name in TRACED:
        env = sup.procs[name].spec.env
        env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        if endpoint is not None:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
            env["OTEL_BSP_SCHEDULE_DELAY"] = "1000"
        await sup.restart(name, timeout_s=120)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_dir = REPO / ".run" / "bench" / ("tracing-" + time.strftime("%Y%m%d-%H%M%S"))
    infra = start_infra(run_dir)
    sup = Supervisor(run_dir)
    prefix = f"benchtr{int(time.time())}."
    stack = StackConfig(
        infra.bootstrap, infra.dsn, prefix, generate_key(), "bench-" + secrets.token_urlsafe(32)
    )
    for spec in service_specs(stack):
        sup.add(spec)
    receiver = ReceiverProc(run_dir, verify=False)
    receiver.start()
    rx = ReceiverClient(receiver.base_url)
    collector, endpoint, seen = await collector_stub()
    pub = Publisher(infra.bootstrap, Topics().with_prefix(prefix))
    runs: dict[str, list[float]] = {"off": [], "on": []}
    api: ConfigApi | None = None
    try:
        await asyncio.gather(*(sup.start(n, timeout_s=120) for n in TRACED))
        api = ConfigApi(sup.procs["config_api"].base_url, stack.admin_token)
        await create_bench_webhook(api, receiver, args.max_in_flight)
        await pub.start()
        gen = EventGenerator(seed=1, poison_rate=0.0, run_tag="t")
        for i in range(args.repeats):
            for mode in ("off", "on") if i % 2 == 0 else ("on", "off"):
                await switch(sup, endpoint if mode == "on" else None)
                await pipeline_burst(pub, gen, rx, 20, 60.0)  # warm-up: connections, view caught up
                burst = await pipeline_burst(pub, gen, rx, args.burst, 180.0)
                runs[mode].append(burst["deliveries_per_s"])
                print(f"repeat {i + 1} tracing {mode}: {burst}", flush=True)
        await asyncio.sleep(2.0)  # the last batch of spans (1 s schedule delay)
    finally:
        if api is not None:
            await api.close()
        with contextlib.suppress(Exception):
            await pub.stop()
        await rx.close()
        await collector.cleanup()
        receiver.stop()
        sup.shutdown()
        infra.close()
    off, on = spread(runs["off"]), spread(runs["on"])
    return {
        "machine": machine(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": vars(args),
        "deliveries_per_s": {"off": off, "on": on, "runs": runs},
        "ratio_on_vs_off": round((on["median"] or 0.0) / (off["median"] or float("nan")), 3),
        "collector": seen,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--burst", type=int, default=2000, help="events per burst")
    p.add_argument("--max-in-flight", type=int, default=64)
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "tracing.json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    interrupt_on_sigterm()  # stopped by kill or by run_all's timeout: still stop the stack it started
    out = asyncio.run(run(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(json.dumps({k: out[k] for k in ("deliveries_per_s", "ratio_on_vs_off", "collector")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
