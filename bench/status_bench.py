"""Status endpoint latency with 1,000,000 attempt rows, against baselines measured in the same run.

The rows go in through the config API's own ingest code (``store_results``: attempt insert plus
rollups, batches of 5,000), spread over the last 7 days for one webhook, so the status query of
that webhook faces the whole table. Then, interleaved round by round through the real FastAPI app
(ASGI, auth included):
  - status of the 1M-row webhook (24h and 7d windows; with the error breakdown by status code and
    error category),
  - status of a webhook with 1,000 rows (baseline: same query, small table share),
  - ``/healthz`` (baseline: the HTTP stack alone),
  - the first log page of the 1M-row webhook, and a filtered one (outcome=dead_lettered),
  - delivery search across the integration (1M deliveries): first page, by event id, by object id,
    by outcome, by event type, by webhook and time window, and a deep page (cursor).
Reported: median, p95 and IQR per case, ratios of medians, and the ingest rate. JSON goes to
``bench/results/status.json``.

    uv run --no-sync python bench/status_bench.py [--rows 1000000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from chaos_lib.measure import latency_summary
from chaos_lib.stack import start_infra

from config_api.app import create_app
from config_api.deliveries.health import Thresholds
from config_api.deliveries.store import store_results
from config_api.settings import ConfigApiSettings
from contracts.base import utcnow
from contracts.deliveries import DeliveryResultV1
from devstack.processes import interrupt_on_sigterm
from service_kit.kafka import ensure_topics
from service_kit.kafka_security import embedded_broker_client
from webhook_core.secrets_crypto import generate_key

RESULTS = Path(__file__).resolve().parent / "results"
ADMIN = "bench-admin-token-0123456789-abcdefghij"
BATCH = 5000
LIMITS = Thresholds(max_consecutive_failures=10**9, max_failing_s=10**9)  # never deactivate the bench webhook


def synthetic_results(webhook_id: str, rows: int, seed: int) -> list[DeliveryResultV1]:
    """``rows`` results spread evenly over the last 7 days, oldest first; ~90 % succeed."""
    rng = random.Random(seed)
    now = utcnow()
    span = timedelta(days=7).total_seconds()
    out = []
    for i in range(rows):
        at = now - timedelta(seconds=span * (1 - i / rows))
        roll = rng.random()
        outcome = (
            "succeeded"
            if roll < 0.9
            else "retrying"
            if roll < 0.97
            else "dead_lettered"
            if roll < 0.99
            else "failed"
        )
        ok = outcome == "succeeded"
        out.append(
            DeliveryResultV1(
                delivery_id=f"{webhook_id}-{i}",
                webhook_id=webhook_id,
                integration_id="surveymonkey",
                event_id=f"ev-{i}",
                event_type=rng.choice(("response_completed", "response_created", "contact_updated")),
                object_type="response",
                object_id=f"resp-{i % 50_000}",
                attempt=1,
                outcome=outcome,
                status_code=200 if ok else 503,
                error_category=None if ok else "http_5xx",
                error_message=None if ok else "HTTP 503",
                response_ms=int(rng.lognormvariate(4.5, 0.6)),
                response_body_excerpt="ok" if ok else "upstream unavailable",
                attempted_at=at,
            )
        )
    return out


async def load(pool: asyncpg.Pool, webhook_id: str, rows: int, seed: int) -> float:
    """Store the rows through the ingest code; returns rows per second."""
    results = synthetic_results(webhook_id, rows, seed)
    began = time.perf_counter()
    for start in range(0, rows, BATCH):
        async with pool.acquire() as conn:
            await store_results(conn, results[start : start + BATCH], LIMITS)
        if start and start % 100_000 == 0:
            print(f"  {start:,} rows stored ({start / (time.perf_counter() - began):,.0f}/s)", flush=True)
    return rows / (time.perf_counter() - began)


@asynccontextmanager
async def running_app(dsn: str, bootstrap: str) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    prefix = f"bench{random.randrange(10**6)}."
    settings = ConfigApiSettings(
        database_url=dsn,
        kafka_bootstrap_servers=bootstrap,
        kafka_enable_idempotence=False,  # the embedded broker (devstack.broker.EMBEDDED_BROKER_ENV)
        kafka_fetch_max_wait_ms=10,
        topic_prefix=prefix,
        webhook_secrets_key=generate_key(),
        admin_token=ADMIN,
    )
    await ensure_topics(bootstrap, settings.topics, embedded_broker_client(), partitions=2)

    async def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    app = create_app(settings, resolver=resolver)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://api",
            headers={"authorization": f"Bearer {ADMIN}"},
        ) as client,
    ):
        yield client, app


def search_cases(big: str, rows: int) -> dict[str, str]:
    """Delivery search requests over the 1M-delivery integration."""
    search = "/admin/integration/surveymonkey/deliveries"
    middle = utcnow() - timedelta(days=3)
    return {
        "search_1m_first_page": f"{search}?limit=50",
        "search_1m_event_id": f"{search}?event_id=ev-{rows // 2}",
        "search_1m_object_id": f"{search}?object_id=resp-{rows // 3 % 50_000}",
        "search_1m_dead_lettered": f"{search}?outcome=dead_lettered&limit=50",
        "search_1m_event_type": f"{search}?event_type=contact_updated&limit=50",
        "search_1m_webhook_window": (
            f"{search}?webhook_id={big}&since={(middle - timedelta(hours=1)).isoformat()}"
            f"&until={middle.isoformat()}&limit=50"
        ).replace("+", "%2B"),
    }


def iqr(values: list[float]) -> float:
    q = statistics.quantiles(values, n=4)
    return round(q[2] - q[0], 3)


async def run(rows: int, rounds: int) -> dict[str, Any]:
    infra = start_infra(Path(tempfile.mkdtemp(prefix="status-bench-")))
    try:
        admin = await asyncpg.connect(infra.dsn)
        await admin.execute("DROP DATABASE IF EXISTS status_bench WITH (FORCE)")
        await admin.execute("CREATE DATABASE status_bench")
        await admin.close()
        parts = urlsplit(infra.dsn)
        dsn = urlunsplit((parts.scheme, parts.netloc, "/status_bench", parts.query, parts.fragment))
        async with running_app(dsn, infra.bootstrap) as (client, app):
            ids = []
            for name in ("big", "small"):
                resp = await client.post(
                    "/admin/integration/surveymonkey/webhooks",
                    json={
                        "name": name,
                        "subscription_url": "https://hooks.example.com/x",
                        "event_types": ["*"],
                    },
                )
                resp.raise_for_status()
                ids.append(resp.json()["id"])
            big, small = ids
            print(
                f"loading {rows:,} attempt rows for the big webhook and 1,000 for the small one", flush=True
            )
            rate = await load(app.state.pool, big, rows, 1)
            await load(app.state.pool, small, 1000, 2)
            await app.state.pool.execute("ANALYZE")
            total_rows = await app.state.pool.fetchval("SELECT count(*) FROM delivery_attempts")
            base = "/admin/integration/surveymonkey/webhooks"
            cases = {
                "status_1m_rows_24h": f"{base}/{big}/status",
                "status_1m_rows_7d": f"{base}/{big}/status?window=7d",
                "status_1k_rows_24h (baseline)": f"{base}/{small}/status",
                "healthz (baseline)": "/healthz",
                "logs_1m_rows_first_page": f"{base}/{big}/logs?limit=50",
                "logs_1m_rows_dead_lettered": f"{base}/{big}/logs?limit=50&outcome=dead_lettered",
                **search_cases(big, rows),
            }
            deep = (await client.get(cases["search_1m_first_page"] + "&limit=200")).json()
            for _ in range(20):  # a cursor 4,000 deliveries deep
                deep = (
                    await client.get(cases["search_1m_first_page"] + f"&cursor={deep['next_cursor']}")
                ).json()
            cases["search_1m_deep_page"] = f"{cases['search_1m_first_page']}&cursor={deep['next_cursor']}"
            one = (await client.get(cases["search_1m_event_id"])).json()["items"]
            assert len(one) == 1 and one[0]["webhook_name"] == "big", one  # the search finds the row
            week = (await client.get(cases["status_1m_rows_7d"])).json()
            assert week["attempts"] + week["cancelled"] >= rows * 0.99, week  # the figures cover the rows
            breakdown = sum(c["count"] for c in week["status_codes"])
            assert breakdown == week["attempts"], week  # and so does the error breakdown
            timings: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(20):  # warm-up: plans cached, pool connections open
                for path in cases.values():
                    (await client.get(path)).raise_for_status()
            for _ in range(rounds):
                for name, path in cases.items():
                    began = time.perf_counter()
                    resp = await client.get(path)
                    timings[name].append((time.perf_counter() - began) * 1000)
                    resp.raise_for_status()
        med = {name: statistics.median(values) for name, values in timings.items()}
        report: dict[str, Any] = {
            "rows_in_table": total_rows,
            "rounds": rounds,
            "ingest_rows_per_s": round(rate),
            "latency_ms": {
                name: {
                    **latency_summary(values),
                    "median": round(med[name], 3),
                    "iqr": iqr(values),
                    "spread": round(iqr(values) / med[name], 2),
                }
                for name, values in timings.items()
            },
            "ratios_of_medians": {
                "status_1m_24h / status_1k_24h": round(
                    med["status_1m_rows_24h"] / med["status_1k_rows_24h (baseline)"], 2
                ),
                "status_1m_7d / status_1k_24h": round(
                    med["status_1m_rows_7d"] / med["status_1k_rows_24h (baseline)"], 2
                ),
                "status_1m_24h / healthz": round(med["status_1m_rows_24h"] / med["healthz (baseline)"], 2),
            },
            "target": "status and delivery search under 50 ms at the median with 1,000,000 attempt rows",
            "target_met": all(med[name] < 50 for name in med if name.startswith(("status_1m", "search_1m"))),
        }
        return report
    finally:
        infra.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--out", type=Path, default=RESULTS / "status.json")
    args = parser.parse_args()
    interrupt_on_sigterm()  # the embedded stack is stopped however this process is asked to end
    report = asyncio.run(run(args.rows, args.rounds))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'case':36} {'median':>8} {'p95':>8} {'iqr':>7} {'spread':>7}  (ms; spread = iqr / median)")
    for name, lat in report["latency_ms"].items():
        print(f"{name:36} {lat['median']:8.2f} {lat['p95']:8.2f} {lat['iqr']:7.2f} {lat['spread']:7.2f}")
    print(json.dumps(report["ratios_of_medians"]), f"ingest {report['ingest_rows_per_s']:,} rows/s")
    return 0 if report["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
