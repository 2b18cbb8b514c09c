"""`make bench`: the system benchmark plus the per-service benchmarks, in one table and one JSON file.

Runs ``bench/system_bench.py`` and, when present, ``bench/worker_bench.py``, ``bench/matching_bench.py``,
``bench/status_bench.py``, ``bench/idle_bench.py`` and ``bench/tracing_bench.py`` (each as its own process, one after the other: the machine is small and
concurrent benchmarks would measure each other). Each script's JSON result (``bench/results/<name>.json``
or ``bench/results/<name>_bench.json``, or any JSON it wrote there during its run) goes into
``bench/results/summary.json``; its output is kept in ``bench/results/<name>.log``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rate_search import rate_text

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
OTHERS = ("worker_bench", "matching_bench", "status_bench", "idle_bench", "payload_bench", "tracing_bench")
TEARDOWN_S = 60.0
"""How long a timed-out script may take to stop what it started before it is killed."""


def run_script(name: str, args: list[str], timeout_s: float) -> dict[str, Any]:
    """Run one benchmark script; returns its status, duration and JSON results."""
    script = BENCH / f"{name}.py"
    if not script.exists():
        return {"status": "absent"}
    short = name.removesuffix("_bench")
    log = RESULTS / f"{short}.log"
    began = time.time()
    print(f"== {name} {' '.join(args)}", flush=True)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(script), *args], cwd=BENCH.parent, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            code = proc.wait(timeout=timeout_s)
            status = "ok" if code == 0 else f"exit {code}"
        except subprocess.TimeoutExpired:
            # SIGTERM first (subprocess.run's timeout sends SIGKILL): the script then stops the broker,
            # PostgreSQL and services it started (devstack.processes.interrupt_on_sigterm).
            proc.terminate()
            try:
                proc.wait(timeout=TEARDOWN_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            status = f"timeout after {timeout_s:.0f}s"
    took = time.time() - began
    found: dict[str, Any] = {}
    # only the script's own file: other engineers may be writing their results meanwhile
    for path in (RESULTS / f"{short}.json", RESULTS / f"{name}.json"):
        if path.exists() and path.stat().st_mtime >= began and path.name != "summary.json":
            try:
                found[path.name] = json.loads(path.read_text())
            except ValueError:
                found[path.name] = {"unparsable": True}
    tail = log.read_text(errors="replace").splitlines()[-15:]
    print("\n".join("   " + line for line in tail), flush=True)
    return {
        "status": status,
        "seconds": round(took, 1),
        "results": found,
        "log": str(log.relative_to(BENCH.parent)),
    }


def _flat(doc: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, Any]]:
    """Scalar leaves of a JSON document (for the summary table)."""
    out: list[tuple[str, Any]] = []
    if isinstance(doc, dict) and depth < 4:
        for key, value in doc.items():
            if key in {"runs", "args", "machine", "per_webhook", "timeline"}:
                continue
            out += _flat(value, f"{prefix}{key}.", depth + 1)
    elif isinstance(doc, int | float | str | bool) or doc is None:
        out.append((prefix.rstrip("."), doc))
    return out


_SKIP_LEAVES = {"min", "max", "spread_pct", "iqr", "n"}


def _headline(key: str) -> bool:
    """Whether a leaf of another benchmark's JSON belongs in the summary table (medians, percentiles, verdicts)."""
    last = key.rsplit(".", 1)[-1]
    if last in _SKIP_LEAVES:
        return False
    if last in {"p50", "p95", "p99", "passed", "target_met"}:
        return True
    if last == "median":
        return not key.startswith("latency_ms.")  # the p50 of the same row is shown already
    return "ratio" in key


def table(summary: dict[str, Any]) -> str:
    lines = [f"benchmarks {summary['date']} on {summary['machine']}", ""]
    system = summary["benchmarks"].get("system_bench", {})
    sys_res = next(iter(system.get("results", {}).values()), None)
    if sys_res and "throughput" in sys_res:
        t, r = sys_res["throughput"], sys_res["ratios"]
        lines += [
            f"{'system':<12}{'metric':<58}{'median':>12}  spread",
            f"{'':<12}{'pipeline deliveries/s (dispatcher + 1 worker)':<58}{t['pipeline']['median']:>12}  {t['pipeline']['spread_pct']}%",
            f"{'':<12}{'raw aiohttp POST/s, same receiver':<58}{t['raw_http']['median']:>12}  {t['raw_http']['spread_pct']}%",
            f"{'':<12}{'raw broker produce msg/s':<58}{t['produce']['median']:>12}  {t['produce']['spread_pct']}%",
            f"{'':<12}{'raw broker consume msg/s':<58}{t['consume']['median']:>12}  {t['consume']['spread_pct']}%",
            f"{'':<12}{'ratio pipeline / raw HTTP':<58}{r['pipeline_vs_raw_http']:>12}",
        ]
        if "sustained" in sys_res:
            sus = sys_res["sustained"]
            label = "sustained max deliveries/s (rate ramp; share of the burst figure)"
            lines.append(f"{'':<12}{label:<58}{sus['sustained_per_s']:>12}  ({sus['of_burst_max']})")
        for pct, lat in sys_res["latency_ms"].items():
            label = f"latency p50/p95/p99 ms at {pct} of re-checked max ({rate_text(lat['rate_per_s'])}/s)"
            value = f"{lat['p50']['median']}/{lat['p95']['median']}/{lat['p99']['median']}"
            lines.append(f"{'':<12}{label:<58}{value:>12}")
        for s in sys_res.get("dispatcher_scale", []):
            label = f"dispatcher events/s with {s['webhooks']} webhooks (via broker)"
            lines.append(f"{'':<12}{label:<58}{s['events_per_s']:>12}")
        lines.append(f"{'':<12}{'peak RSS MB':<58}{json.dumps(sys_res['peak_rss_mb']):>12}")
    idle = summary["benchmarks"].get("idle_bench", {}).get("results", {})
    idle_doc = next(iter(idle.values()), None)
    if idle_doc and idle_doc.get("runs"):
        lines += [
            "",
            "idle        cores per service over an idle window, then a trickle's publish->receipt ms",
        ]
        for r in idle_doc["runs"]:
            cores = " ".join(f"{k}={v}" for k, v in r["cores"].items())
            lat = r["trickle_latency_ms"]
            lines.append(
                f"{'':<12}{r['profile'] + '/' + str(r['webhooks']):<16}{cores} total={r['cores_services_total']} "
                f"broker={r['broker_cores']} trickle p50/p99={lat.get('p50')}/{lat.get('p99')}"
            )
    for name in OTHERS:
        if name == "idle_bench":
            continue
        entry = summary["benchmarks"].get(name, {})
        lines.append("")
        lines.append(
            f"{name.removesuffix('_bench'):<12}status: {entry.get('status')} ({entry.get('seconds', 0)} s)"
        )
        for file_name, doc in entry.get("results", {}).items():
            for key, value in [kv for kv in _flat(doc) if _headline(kv[0])][:24]:
                lines.append(f"{'':<12}{file_name}:{key:<58} {value}")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="one repeat, small scales (a smoke run)")
    p.add_argument("--only", default="", help="comma-separated subset of system_bench," + ",".join(OTHERS))
    p.add_argument("--timeout-s", type=float, default=900.0, help="per script")
    args = p.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    wanted = {n for n in args.only.split(",") if n} or {"system_bench", *OTHERS}
    sys_args = ["--out", str(RESULTS / "system.json")]
    if args.quick:
        sys_args += ["--repeats", "1", "--scales", "10,1000", "--burst", "500", "--latency-seconds", "4"]
    summary: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} CPUs, {platform.platform(terse=True)}, Python {platform.python_version()}",
        "benchmarks": {},
    }
    if "system_bench" in wanted:
        summary["benchmarks"]["system_bench"] = run_script("system_bench", sys_args, args.timeout_s)
    for name in OTHERS:
        if name in wanted:
            summary["benchmarks"][name] = run_script(name, [], args.timeout_s)
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print()
    print(table(summary))
    print(f"\nsummary: {RESULTS / 'summary.json'}")
    failed = [n for n, e in summary["benchmarks"].items() if e["status"] not in ("ok", "absent")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
