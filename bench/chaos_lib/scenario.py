"""The chaos scenario: set up webhooks, publish at a steady rate, inject faults, drain, account.

Used by ``bench/chaos.py`` (the full run) and by ``tests/e2e/test_chaos_reduced.py`` (a reduced one).
Fault times are fractions of the publishing phase, so a shorter run keeps the same shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from chaos_lib.accounting import (
    ConfigChange,
    DeadLetterFacts,
    HookInfo,
    ResultFacts,
    classify,
    expected_pairs,
    first_receipts,
    lag_estimator,
)
from chaos_lib.api import ConfigApi
from chaos_lib.events import SURVEYS, EventGenerator
from chaos_lib.kafka_io import Publisher, TopicTail
from chaos_lib.measure import latency_summary
from chaos_lib.receiver import event_key
from chaos_lib.stack import Infra, ReceiverClient, ReceiverProc, Supervisor
from chaos_lib.webhooks import WebhookSpec, chaos_webhooks
from contracts.deliveries import DeadLetterV1, DeliveryResultV1
from contracts.events import InvalidEventV1
from contracts.topics import Topics
from service_kit.settings import decode_secrets_key
from webhook_core.payload_crypto import Payloads
from webhook_core.secrets_crypto import SecretBox

ALL_FAULTS = frozenset(
    {
        "errors500",
        "hang",
        "gone",
        "worker_kill",
        "dispatcher_restart",
        "config_api_restart",
        "postgres_stop",
        "edits",
        "deletes",
    }
)
HANG_LABEL = "f07"
GONE_LABEL = "s09"
DELETE_LABELS = ("s07", "f09")


def edit_plan(url: Callable[[str], str]) -> dict[str, dict[str, Any]]:
    """The five mid-run edits (label -> PATCH body)."""
    s = SURVEYS
    return {
        "s01": {"object_ids": [s[7]]},
        "s05": {
            "event_types": ["contact_created", "contact_updated", "contact_deleted"],
            "subscription_url": url("s05b"),
        },
        "f01": {"filter": {"data.status": {"$in": ["booked"]}}},
        "f05": {"filter": {"data.status": "preliminary"}},
        "s08": {"priority": "high", "filter": {"data.resources.survey_id": {"$in": [s[4], s[5], s[6]]}}},
    }


@dataclass
class ChaosConfig:
    """Size, rate and faults of one run."""

    events: int = 20_000
    rate_per_s: float = 80.0
    webhooks: int = 50
    poison_rate: float = 0.01
    faults: frozenset[str] = ALL_FAULTS
    worker_kills: int = 2
    error_rate: float = 0.2
    error_window: tuple[float, float] = (0.10, 0.40)
    hang_s: float = 60.0
    postgres_down_s: float = 30.0
    propagation_s: float = 5.0
    drain_timeout_s: float = 150.0
    agreement_timeout_s: float = 60.0
    seed: int = 8
    at: dict[str, float] = field(
        default_factory=lambda: {
            "hang": 0.15,
            "worker_kill_1": 0.20,
            "gone": 0.30,
            "edits": 0.35,
            "dispatcher_restart": 0.45,
            "postgres_stop": 0.50,
            "worker_kill_2": 0.62,
            "config_api_restart": 0.78,
            "deletes": 0.88,
        }
    )


@dataclass
class Run:
    """Mutable state of one run."""

    cfg: ChaosConfig
    sup: Supervisor
    infra: Infra | None
    topics: Topics
    api: ConfigApi
    receiver: ReceiverProc
    rx: ReceiverClient
    t0: float = 0.0
    specs: dict[str, WebhookSpec] = field(default_factory=dict)
    hooks: dict[str, HookInfo] = field(default_factory=dict)
    label_to_hook: dict[str, str] = field(default_factory=dict)
    current: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    changes: list[ConfigChange] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    faults_state: dict[str, Any] = field(default_factory=lambda: {"error_rate": 0.0, "hang": {}, "gone": []})

    def note(self, what: str, **extra: Any) -> None:
        self.timeline.append({"t": round(time.time() - self.t0, 2), "what": what, **extra})
        print(f"  [{time.time() - self.t0:7.1f}s] {what} {extra if extra else ''}", flush=True)


async def _at(
    run: Run, frac: float, duration: float, action: Callable[[], Awaitable[None]], name: str
) -> None:
    await asyncio.sleep(max(0.0, run.t0 + frac * duration - time.time()))
    try:
        await action()
    except Exception as exc:  # a failed fault action is a finding, not a reason to abort the run
        run.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        run.note(f"{name} FAILED", error=str(exc)[:300])


async def _push_faults(run: Run) -> None:
    await run.rx.set_faults(
        error_rate=run.faults_state["error_rate"],
        hang=run.faults_state["hang"],
        gone=run.faults_state["gone"],
    )


async def create_webhooks(run: Run) -> None:
    """Create the webhooks through the config API and hand their secrets to the receiver."""
    specs = chaos_webhooks(run.cfg.webhooks, run.cfg.seed)
    sem = asyncio.Semaphore(8)

    async def one(spec: WebhookSpec) -> None:
        body = {**spec.body, "subscription_url": run.receiver.url(spec.label)}
        async with sem:
            spec.webhook_id, spec.secrets = await run.api.create_webhook(spec.integration_id, body)
        if not spec.secrets:
            raise RuntimeError(f"no signing secret returned for webhook {spec.label}")

    await asyncio.gather(*(one(s) for s in specs))
    for spec in specs:
        assert spec.webhook_id is not None
        run.specs[spec.label] = spec
        config = {**spec.body, "active": True}
        run.hooks[spec.webhook_id] = HookInfo(spec.webhook_id, spec.integration_id, spec.label, config)
        run.label_to_hook[spec.label] = spec.webhook_id
        run.current[spec.webhook_id] = config
    secrets = {s.label: s.secrets for s in specs}
    secrets["s05b"] = run.specs["s05"].secrets if "s05" in run.specs else []
    if "s05" in run.specs:
        run.label_to_hook["s05b"] = run.label_to_hook["s05"]
    await run.rx.set_secrets({k: v for k, v in secrets.items() if v})


async def wait_for_view(run: Run, count: int, timeout_s: float = 60.0) -> None:
    """Wait until the dispatcher indexed every webhook (its ``carehooks_webhooks_indexed`` gauge), then a little more."""
    disp = run.sup.procs["dispatcher"]
    deadline = time.monotonic() + timeout_s
    seen = None
    async with httpx.AsyncClient(timeout=3.0) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                text = (await client.get(disp.base_url + "/metrics")).text
                m = re.search(r"^carehooks_webhooks_indexed(?:\{[^}]*\})?\s+([0-9.e+]+)", text, re.M)
                if m is None:
                    break  # no gauge: fall back to a fixed settle time
                seen = float(m.group(1))
                if seen >= count:
                    break
            await asyncio.sleep(0.3)
    run.note("dispatcher view", carehooks_webhooks_indexed=seen)
    await asyncio.sleep(3.0 if seen is None else 1.5)


# --- fault actions ------------------------------------------------------------------------------


def _actions(run: Run, duration: float) -> list[tuple[float, str, Callable[[], Awaitable[None]]]]:
    cfg = run.cfg
    faults = cfg.faults
    out: list[tuple[float, str, Callable[[], Awaitable[None]]]] = []

    if "errors500" in faults:

        async def errors_on() -> None:
            run.faults_state["error_rate"] = cfg.error_rate
            await _push_faults(run)
            run.note("receiver: 20% of answers are 500", rate=cfg.error_rate)

        async def errors_off() -> None:
            run.faults_state["error_rate"] = 0.0
            await _push_faults(run)
            run.note("receiver: 500s off")

        out += [
            (cfg.error_window[0], "errors_on", errors_on),
            (cfg.error_window[1], "errors_off", errors_off),
        ]

    if "hang" in faults and HANG_LABEL in run.specs:

        async def hang() -> None:
            run.faults_state["hang"] = {HANG_LABEL: time.time() + cfg.hang_s}
            await _push_faults(run)
            run.note("receiver: endpoint hangs", label=HANG_LABEL, seconds=cfg.hang_s)

        out.append((cfg.at["hang"], "hang", hang))

    if "gone" in faults and GONE_LABEL in run.specs:

        async def gone() -> None:
            run.faults_state["gone"] = [GONE_LABEL]
            await _push_faults(run)
            run.note("receiver: endpoint answers 410", label=GONE_LABEL)

        out.append((cfg.at["gone"], "gone", gone))

    if "worker_kill" in faults:
        for i in range(1, cfg.worker_kills + 1):

            async def kill(i: int = i) -> None:
                took = await run.sup.restart("delivery_worker", hard=True, pause_s=1.0)
                run.note(f"worker SIGKILL #{i} + restart", ready_after_s=round(took, 1))

            out.append((cfg.at[f"worker_kill_{i}"], f"worker_kill_{i}", kill))

    if "dispatcher_restart" in faults:

        async def restart_dispatcher() -> None:
            took = await run.sup.restart("dispatcher", hard=False, pause_s=0.5)
            run.note("dispatcher restarted", ready_after_s=round(took, 1))

        out.append((cfg.at["dispatcher_restart"], "dispatcher_restart", restart_dispatcher))

    if "config_api_restart" in faults:

        async def restart_api() -> None:
            took = await run.sup.restart("config_api", hard=False, pause_s=0.5)
            run.note("config API restarted", ready_after_s=round(took, 1))

        out.append((cfg.at["config_api_restart"], "config_api_restart", restart_api))

    if "postgres_stop" in faults and run.infra is not None and run.infra.postgres is not None:
        infra = run.infra

        async def pg_cycle() -> None:
            await asyncio.to_thread(infra.stop_postgres)
            run.note("PostgreSQL stopped")
            await asyncio.sleep(cfg.postgres_down_s)
            await asyncio.to_thread(infra.start_postgres)
            run.note("PostgreSQL started")

        out.append((cfg.at["postgres_stop"], "postgres_stop", pg_cycle))
    elif "postgres_stop" in faults:
        run.errors.append("postgres_stop skipped: PostgreSQL is not embedded (DATABASE_URL set)")

    if "edits" in faults:

        async def edits() -> None:
            for label, changes in edit_plan(run.receiver.url).items():
                if label not in run.specs:
                    continue
                wid = run.label_to_hook[label]
                before = run.current[wid]
                t_start = time.time()
                await run.api.patch_webhook(run.hooks[wid].integration_id, wid, changes)
                after = {**(before or {}), **changes}
                run.current[wid] = after
                run.changes.append(ConfigChange(wid, "edit", t_start, time.time(), before, after))
            run.note("5 webhooks edited")

        out.append((cfg.at["edits"], "edits", edits))

    if "deletes" in faults:

        async def deletes() -> None:
            for label in DELETE_LABELS:
                if label not in run.specs:
                    continue
                wid = run.label_to_hook[label]
                t_start = time.time()
                await run.api.delete_webhook(run.hooks[wid].integration_id, wid)
                run.changes.append(ConfigChange(wid, "delete", t_start, time.time(), run.current[wid], None))
                run.current[wid] = None
            run.note("2 webhooks deleted")

        out.append((cfg.at["deletes"], "deletes", deletes))
    return out


async def watch_deactivations(run: Run, stop: asyncio.Event) -> None:
    """Poll the API for webhooks it deactivated (410 Gone, auto-disable) and record them as changes."""
    last_ok: dict[str, float] = {}
    while not stop.is_set():
        now = time.time()
        for integration in ("surveymonkey", "ehr"):
            try:
                resp = await run.api.client.get(
                    f"/admin/integration/{integration}/webhooks", params={"active": "false", "limit": 200}
                )
            except httpx.HTTPError:
                continue
            if resp.status_code != 200:
                continue
            doc = resp.json()
            items = doc if isinstance(doc, list) else doc.get("items") or doc.get("data") or []
            inactive = {str(i["id"]) for i in items if not i.get("active", True)}
            for wid in inactive:
                config = run.current.get(wid)
                if config is None or not config.get("active", True):
                    continue
                after = {**config, "active": False}
                run.changes.append(
                    ConfigChange(wid, "deactivated", last_ok.get(wid, run.t0), now, config, after)
                )
                run.current[wid] = after
                run.note("webhook deactivated by the config API", label=run.hooks[wid].label)
            for wid, hook in run.hooks.items():
                if hook.integration_id == integration and wid not in inactive:
                    last_ok[wid] = now
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


# --- tails of the output topics -----------------------------------------------------------------


def _parse_result(_: bytes | None, value: bytes | None) -> ResultFacts | None:
    if value is None:
        return None
    r = DeliveryResultV1.model_validate_json(value)
    final = r.next_attempt_at is None and r.outcome != "retrying"
    return ResultFacts(r.webhook_id, r.delivery_id, r.event_id, r.outcome, r.gone, final)


def _dlq_parser(payloads: Payloads) -> Callable[[bytes | None, bytes | None], DeadLetterFacts | None]:
    def parse(_: bytes | None, value: bytes | None) -> DeadLetterFacts | None:
        if value is None:
            return None
        job = payloads.open(DeadLetterV1.model_validate_json(value).job)  # encrypted on Kafka by default
        body = '{"data":' + _data_of(job.body_text) + "}"
        return DeadLetterFacts(job.webhook_id, job.delivery_id, event_key(body.encode()))

    return parse


def _data_of(body: str) -> str:
    try:
        return json.dumps(json.loads(body).get("data"))
    except (ValueError, AttributeError):
        return "null"


_MARKER = re.compile(rb"chaos-poison-[A-Za-z0-9]+-\d+")


def _invalid_parser(payloads: Payloads) -> Callable[[bytes | None, bytes | None], str | None]:
    def parse(_: bytes | None, value: bytes | None) -> str | None:
        if value is None:
            return None
        inv = InvalidEventV1.model_validate_json(value)
        m = _MARKER.search(payloads.invalid_value(inv))
        return m.group(0).decode() if m else f"<non-poison:{inv.reason[:80]}>"

    return parse


# --- the run ------------------------------------------------------------------------------------


async def run_chaos(
    cfg: ChaosConfig,
    sup: Supervisor,
    infra: Infra | None,
    topics: Topics,
    admin_token: str,
    bootstrap: str,
    *,
    secrets_key: str,
) -> dict[str, Any]:
    """Run the scenario against a started stack (services added to ``sup`` but not started).

    ``secrets_key`` (the stack's) opens the job bodies and invalid copies, encrypted on Kafka."""
    payloads = Payloads(SecretBox(decode_secrets_key(secrets_key)))
    receiver = ReceiverProc(sup.run_dir, verify=True)
    receiver.start()
    run = Run(
        cfg, sup, infra, topics, ConfigApi("", admin_token), receiver, ReceiverClient(receiver.base_url)
    )
    run.t0 = time.time()
    report: dict[str, Any] = {
        "config": {k: v for k, v in cfg.__dict__.items() if k != "faults"} | {"faults": sorted(cfg.faults)}
    }
    tails: list[TopicTail[Any]] = []
    publisher = Publisher(bootstrap, topics)
    try:
        await asyncio.gather(*(sup.start(name, timeout_s=120) for name in sup.procs))
        run.note("services ready", ports={n: p.spec.port for n, p in sup.procs.items()})
        run.api = ConfigApi(sup.procs["config_api"].base_url, admin_token)
        await create_webhooks(run)
        run.note("webhooks created", count=len(run.hooks))
        await wait_for_view(run, len(run.hooks))
        dlq: TopicTail[DeadLetterFacts] = TopicTail(bootstrap, topics.deliveries_dlq, _dlq_parser(payloads))
        results: TopicTail[ResultFacts] = TopicTail(bootstrap, topics.delivery_results, _parse_result)
        invalid: TopicTail[str] = TopicTail(bootstrap, topics.invalid_events, _invalid_parser(payloads))
        tails = [dlq, results, invalid]
        for tail in tails:
            await tail.start()
        await publisher.start()
        gen = EventGenerator(seed=cfg.seed, poison_rate=cfg.poison_rate, run_tag=f"r{int(run.t0) % 100000}")

        duration = cfg.events / cfg.rate_per_s
        run.t0 = time.time()
        run.note("publishing", messages=cfg.events, rate_per_s=cfg.rate_per_s, seconds=round(duration, 1))
        stop_watch = asyncio.Event()
        watcher = asyncio.create_task(watch_deactivations(run, stop_watch))
        actions = [
            asyncio.create_task(_at(run, frac, duration, act, name))
            for frac, name, act in _actions(run, duration)
        ]
        puller = asyncio.create_task(_pull_forever(run))
        elapsed = await publisher.run_steady(gen.message, cfg.events, cfg.rate_per_s)
        run.note("published", seconds=round(elapsed, 1), failed=publisher.failed)
        await asyncio.gather(*actions)
        # faults off: the tail of the run measures recovery, not the faults themselves
        run.faults_state = {"error_rate": 0.0, "hang": {}, "gone": run.faults_state["gone"]}
        await _push_faults(run)

        drained = await _drain(run, publisher, dlq, results)
        stop_watch.set()
        await watcher
        puller.cancel()
        await run.rx.pull()
        run.note("drained", **drained)

        lag_at = lag_estimator(publisher.published, first_receipts(run.rx.records))
        expectation = expected_pairs(publisher.published, run.hooks, run.changes, lag_at, cfg.propagation_s)
        acc = classify(expectation, run.rx.records, run.label_to_hook, list(dlq.items), list(results.items))

        _dump(run, publisher, results.items, dlq.items, expectation)
        poison_sent = {m.poison for m in publisher.published if m.poison}
        routed = set(invalid.items)
        report["published_messages"] = len(publisher.published)
        report["published_events"] = sum(len(m.events) for m in publisher.published)
        report["publish_failures"] = publisher.failed
        report |= acc
        report["poison_sent"] = len(poison_sent)
        report["poison_routed_to_invalid"] = len(poison_sent & routed)
        report["invalid_records_not_poison"] = sum(1 for x in invalid.items if x.startswith("<non-poison"))
        report["invalid_non_poison_reasons"] = dict(
            Counter(x for x in invalid.items if x.startswith("<non-poison")).most_common(5)
        )
        report["ambiguous_windows"] = expectation.windows
        report["latency_first_ok_ms"] = _latency(run, publisher)
        report["config_api_agreement"] = await _agreement(run, results.items, dlq.items)
        report["timeline"] = run.timeline
        report["errors"] = run.errors
        report["peak_rss_mb"] = sup.peak_rss_mb()
        report["service_starts"] = {n: p.starts for n, p in sup.procs.items()}
        report["duration_s"] = round(time.time() - run.t0, 1)
        return report
    finally:
        for tail in tails:
            with contextlib.suppress(Exception):
                await tail.stop()
        with contextlib.suppress(Exception):
            await publisher.stop()
        await run.rx.close()
        await run.api.close()
        receiver.stop()


def _dump(
    run: Run,
    publisher: Publisher,
    results: list[ResultFacts],
    dead: list[DeadLetterFacts],
    expectation: Any,
) -> None:
    """Raw material for a post-mortem, next to the service logs (never payloads: keys and ids only)."""
    out = run.sup.run_dir
    with (out / "receipts.jsonl").open("w") as f:
        for r in run.rx.records:
            f.write(json.dumps(r) + "\n")
    with (out / "results.jsonl").open("w") as f:
        for x in results:
            f.write(json.dumps(x.__dict__) + "\n")
    with (out / "dead_letters.jsonl").open("w") as f:
        for d in dead:
            f.write(json.dumps(d.__dict__) + "\n")
    with (out / "published.jsonl").open("w") as f:
        for m in publisher.published:
            f.write(
                json.dumps({"t": m.published_at, "keys": [e.key for e in m.events], "poison": m.poison})
                + "\n"
            )
    (out / "expected.json").write_text(
        json.dumps(
            {
                "hooks": {w: h.label for w, h in run.hooks.items()},
                "expected": sorted(expectation.expected),
                "ambiguous": sorted(expectation.ambiguous),
            }
        )
    )


def _ok_ids_by_hook(run: Run) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for r in run.rx.records:
        wid = run.label_to_hook.get(r["label"])
        if wid and r.get("status") == 200 and r.get("wid"):
            out[wid].add(r["wid"])
    return out


async def _pull_forever(run: Run) -> None:
    while True:
        with contextlib.suppress(httpx.HTTPError):
            await run.rx.pull()
        await asyncio.sleep(2.0)


async def _drain(
    run: Run, publisher: Publisher, dlq: TopicTail[DeadLetterFacts], results: TopicTail[ResultFacts]
) -> dict[str, Any]:
    """Wait until every expected pair has a final outcome (or nothing moves any more, or the timeout)."""
    began = time.monotonic()
    last_progress = began
    last_sig: tuple[int, int, int] = (-1, -1, -1)
    outstanding = -1
    await run.rx.pull()
    # the expectation barely moves during the drain (only the lag estimate does): compute it once here
    lag_at = lag_estimator(publisher.published, first_receipts(run.rx.records))
    expectation = expected_pairs(publisher.published, run.hooks, run.changes, lag_at, run.cfg.propagation_s)
    while time.monotonic() - began < run.cfg.drain_timeout_s:
        await asyncio.sleep(4.0)
        await run.rx.pull()
        acc = classify(expectation, run.rx.records, run.label_to_hook, list(dlq.items), list(results.items))
        outstanding = acc["lost"]
        sig = (len(run.rx.records), len(results.items), len(dlq.items))
        if sig != last_sig:
            last_progress = time.monotonic()
            last_sig = sig
        print(
            f"  drain: outstanding={outstanding} receipts={sig[0]} results={sig[1]} dlq={sig[2]}", flush=True
        )
        if outstanding == 0 and time.monotonic() - last_progress > 4.0:
            break
        if time.monotonic() - last_progress > 45.0:
            break  # nothing moved for 45 s: what is outstanding now is lost
    return {"drain_s": round(time.monotonic() - began, 1), "outstanding_at_end": outstanding}


def _latency(run: Run, publisher: Publisher) -> dict[str, float]:
    published = {e.key: m.published_at for m in publisher.published for e in m.events}
    lat = sorted(
        (r["t"] - published[r["key"]]) * 1000
        for r in run.rx.records
        if r.get("status") == 200 and r.get("key") in published
    )
    if not lat:
        return {}
    summary = latency_summary(lat)
    return {k: summary[k] for k in ("p50", "p95", "p99")} | {"mean": round(statistics.fmean(lat), 1)}


async def _agreement(run: Run, results: list[ResultFacts], dead: list[DeadLetterFacts]) -> dict[str, Any]:
    """Compare the config API's logs and status (after PostgreSQL came back) with the receiver and the results topic.

    Two questions: did the API store every attempt result (API logs == results topic), and does
    what it says match what the receiver saw? A receiver 2xx the platform does not log as success is
    *explained* when the platform gave up on that delivery for a reason the receiver cannot see (the
    answer arrived after the sender's timeout, so it was retried/dead-lettered) or when a worker was
    killed after the 2xx and the redo found the webhook deactivated (cancelled).
    """
    succeeded_results: dict[str, set[str]] = defaultdict(set)
    gave_up_ids: set[str] = set()
    for r in results:
        if r.outcome == "succeeded":
            succeeded_results[r.webhook_id].add(r.delivery_id)
        elif r.outcome in ("cancelled", "dead_lettered") or (r.outcome == "failed" and r.final):
            gave_up_ids.add(r.delivery_id)
    dlq_by_hook = Counter(d.webhook_id for d in dead)
    live = [wid for wid, cfg in run.current.items() if cfg is not None]
    deadline = time.monotonic() + run.cfg.agreement_timeout_s

    def bad(row: dict[str, Any]) -> bool:
        keys = (
            "missing_in_api_vs_results",
            "extra_in_api_vs_results",
            "receiver_ok_unexplained",
            "api_ok_not_at_receiver",
        )
        return "error" in row or any(row[k] for k in keys)

    rows: dict[str, dict[str, Any]] = {}
    while True:
        # the receiver may still be getting late retries: compare against its latest records
        await run.rx.pull()
        ok_by_hook = _ok_ids_by_hook(run)
        rows = {}
        for wid in live:
            hook = run.hooks[wid]
            if time.monotonic() > deadline + 30:
                rows[wid] = {"label": hook.label, "error": "not checked: agreement phase out of time"}
                continue
            try:
                logs = await run.api.logs(hook.integration_id, wid, outcome="succeeded")
                status = await run.api.status(hook.integration_id, wid)
            except Exception as exc:
                rows[wid] = {"label": hook.label, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
                continue
            api_ok = {str(item.get("delivery_id")) for item in logs}
            rx_ok = ok_by_hook.get(wid, set())
            topic_ok = succeeded_results.get(wid, set())
            rows[wid] = {
                "label": hook.label,
                "receiver_unique_ok": len(rx_ok),
                "api_logs_succeeded_unique": len(api_ok),
                "results_topic_succeeded_unique": len(topic_ok),
                "missing_in_api_vs_results": len(topic_ok - api_ok),
                "extra_in_api_vs_results": len(api_ok - topic_ok),
                "receiver_ok_unexplained": len(rx_ok - api_ok - gave_up_ids),
                "receiver_ok_platform_gave_up": len((rx_ok - api_ok) & gave_up_ids),
                "api_ok_not_at_receiver": len(api_ok - rx_ok),
                "api_status_succeeded": status.get("succeeded"),
                "api_status_dead_lettered": status.get("dead_lettered"),
                "dlq_topic_dead_lettered": dlq_by_hook.get(wid, 0),
            }
        if not any(bad(r) for r in rows.values()) or time.monotonic() > deadline:
            break
        await asyncio.sleep(3.0)
    disagree = [r for r in rows.values() if bad(r)]
    return {
        "webhooks_checked": len(rows),
        "webhooks_disagreeing": len(disagree),
        "agrees": not disagree,
        "receiver_unique_ok_total": sum(r.get("receiver_unique_ok", 0) for r in rows.values()),
        "api_logs_succeeded_total": sum(r.get("api_logs_succeeded_unique", 0) for r in rows.values()),
        "results_topic_succeeded_total": sum(
            r.get("results_topic_succeeded_unique", 0) for r in rows.values()
        ),
        "receiver_ok_platform_gave_up_total": sum(
            r.get("receiver_ok_platform_gave_up", 0) for r in rows.values()
        ),
        "disagreeing_sample": disagree[:10],
        "per_webhook": rows,
    }
