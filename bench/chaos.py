"""`make chaos`: the bounded fault-injection run on the embedded stack (report in bench/results/chaos.json).

Starts an embedded broker and PostgreSQL (or uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL), the config
API, dispatcher and delivery worker as processes, a recording receiver, then runs the scenario of
docs/chaos.md. Exit code 1 when a check fails (lost > 0, a bad signature, poison not routed, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos_lib.report import render, verdicts
from chaos_lib.scenario import ALL_FAULTS, ChaosConfig, run_chaos
from chaos_lib.stack import REPO, StackConfig, Supervisor, service_specs, start_infra

from contracts.topics import Topics
from devstack.processes import interrupt_on_sigterm
from webhook_core.secrets_crypto import generate_key


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", type=int, default=20_000, help="messages to publish (1%% poison)")
    p.add_argument("--rate", type=float, default=80.0, help="messages per second")
    p.add_argument("--webhooks", type=int, default=50)
    p.add_argument("--faults", default=",".join(sorted(ALL_FAULTS)), help="comma-separated subset")
    p.add_argument("--worker-kills", type=int, default=2)
    p.add_argument("--hang-s", type=float, default=60.0)
    p.add_argument("--postgres-down-s", type=float, default=30.0)
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "chaos.json")
    return p.parse_args()


async def main() -> int:
    args = parse_args()
    faults = frozenset(f for f in args.faults.split(",") if f)
    unknown = faults - ALL_FAULTS
    if unknown:
        print(f"unknown faults: {sorted(unknown)}; known: {sorted(ALL_FAULTS)}", file=sys.stderr)
        return 2
    run_dir = REPO / ".run" / "chaos" / time.strftime("%Y%m%d-%H%M%S")
    print(f"chaos run: logs in {run_dir}")
    infra = start_infra(run_dir)
    sup = Supervisor(run_dir)
    prefix = f"chaos{int(time.time())}."
    stack = StackConfig(
        bootstrap=infra.bootstrap,
        dsn=infra.dsn,
        topic_prefix=prefix,
        secrets_key=generate_key(),
        admin_token="chaos-" + secrets.token_urlsafe(24),
    )
    for spec in service_specs(stack):
        sup.add(spec)
    cfg = ChaosConfig(
        events=args.events,
        rate_per_s=args.rate,
        webhooks=args.webhooks,
        faults=faults,
        worker_kills=args.worker_kills,
        hang_s=args.hang_s,
        postgres_down_s=args.postgres_down_s,
    )
    try:
        report = await run_chaos(
            cfg, sup, infra, Topics().with_prefix(prefix), stack.admin_token, stack.bootstrap,
            secrets_key=stack.secrets_key,
        )  # fmt: skip
    finally:
        sup.shutdown()
        infra.close()
    report["run_dir"] = str(run_dir)
    report["verdicts"] = verdicts(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print()
    print(render(report))
    print(f"\nreport: {args.out}")
    return 0 if all(report["verdicts"].values()) else 1


if __name__ == "__main__":
    interrupt_on_sigterm()  # stopped by kill: still stop the stack it started
    sys.exit(asyncio.run(main()))
