"""Dashboards and alert rules read metrics the running services really export.

The four services run as processes on the embedded broker and PostgreSQL. Two webhooks of the
``surveymonkey`` integration receive one event: one answers 200 (delivered), the other 410 Gone
(dead-lettered at once, and the config API deactivates the webhook). A second event names an
integration nobody configured. Then every service's /metrics is scraped and each metric name used
in deploy/grafana and deploy/prometheus/alerts.yaml must be there, and the labels must be bounded.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import yaml
from aiohttp import web
from observability_support import ALERTS, DASHBOARDS, PROMETHEUS_SYNTHETIC, ROOT, metric_names
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from tests.e2e.conftest import StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SAMPLE = ROOT / "samples" / "surveymonkey" / "response_completed.json"
SERVICES = ("config-api", "dispatcher", "delivery-worker", "dlq-replayer")
SUFFIXES = ("_bucket", "_sum", "_count", "_total", "_created", "_info")


def used_metric_names() -> dict[str, set[str]]:
    """Metric name → where it is used (dashboard panels and alert rules)."""
    used: dict[str, set[str]] = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                for name in metric_names(target["expr"]):
                    used.setdefault(name, set()).add(f"{path.name}: {panel['title']}")
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        for rule in group["rules"]:
            for name in metric_names(rule["expr"]):
                used.setdefault(name, set()).add(f"alerts.yaml: {rule['alert']}")
    return used


class Scrape:
    """One service's /metrics: family names, sample names and samples."""

    def __init__(self, text: str) -> None:
        self.families = {f.name: f.type for f in text_string_to_metric_families(text)}
        self.samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
        self.sample_names = {s.name for s in self.samples}

    def exports(self, name: str) -> bool:
        """Whether ``name`` (a series or a histogram/counter part of a family) is exported."""
        if name in self.sample_names or name in self.families:
            return True
        return any(name.endswith(s) and name.removesuffix(s) in self.families for s in SUFFIXES)

    def value(self, name: str, **labels: str) -> float:
        """Sum of the samples named ``name`` whose labels include ``labels``."""
        return sum(s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items())

    def label_values(self, name: str, label: str) -> set[str]:
        return {s.labels[label] for s in self.samples if s.name == name and label in s.labels}


async def _receiver() -> tuple[web.AppRunner, str]:
    async def ok(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def gone(_: web.Request) -> web.Response:
        return web.Response(status=410)

    app = web.Application()
    app.router.add_post("/ok", ok)
    app.router.add_post("/gone", gone)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def receiver_url() -> AsyncIterator[str]:
    runner, url = await _receiver()
    yield url
    await runner.cleanup()


async def eventually(check: Callable[[], Awaitable[Any]], what: str, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


async def publish(env: dict[str, str], *args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "publish"),
        str(SAMPLE),
        "--bootstrap-servers",
        env["KAFKA_BOOTSTRAP_SERVERS"],
        "--topic-prefix",
        env["TOPIC_PREFIX"],
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate()
    assert proc.returncode == 0, output.decode()


async def test_dashboards_and_alerts_read_metrics_the_services_export(
    stack_factory: StackFactory, receiver_url: str
) -> None:
    stack = stack_factory()
    urls = {name: stack.url(name) for name in SERVICES}

    async with httpx.AsyncClient(timeout=10) as http:

        async def scrape(name: str) -> Scrape:
            resp = await http.get(urls[name] + "/metrics")
            assert resp.status_code == 200, resp.text
            return Scrape(resp.text)

        api = f"{stack.config_api_url}/admin/integration/surveymonkey/webhooks"
        retry = {
            "max_attempts": 2,
            "initial_delay_ms": 500,
            "multiplier": 2,
            "max_delay_ms": 1000,
            "jitter": 0,
        }
        hooks = {}
        for path in ("ok", "gone"):
            resp = await http.post(
                api,
                headers=stack.admin_headers,
                json={
                    "name": path,
                    "subscription_url": f"{receiver_url}/{path}",
                    "event_types": ["response_completed"],
                    "retry_policy": retry,
                },
            )
            assert resp.status_code == 201, resp.text
            hooks[path] = resp.json()

        async def indexed() -> bool:
            return (await scrape("dispatcher")).value("carehooks_webhooks_indexed") >= 2

        await eventually(indexed, "the dispatcher to index both webhooks")
        await asyncio.sleep(1.0)  # the worker follows the same topic
        await publish(stack.env)
        await publish(stack.env, "--integration-id", "rogue-producer-chosen-id")

        async def delivered_and_dead_lettered() -> bool:
            worker = await scrape("delivery-worker")
            return (
                worker.value("carehooks_delivery_attempts_total", outcome="succeeded") >= 1
                and worker.value("carehooks_dead_lettered_total") >= 1
            )

        await eventually(delivered_and_dead_lettered, "one delivery and one dead letter")

        async def results_stored_and_deactivated() -> bool:
            config = await scrape("config-api")
            return (
                config.value("carehooks_delivery_results_ingested_total", outcome="stored") >= 2
                and config.value("carehooks_webhooks_auto_deactivated_total", integration="surveymonkey") >= 1
            )

        await eventually(results_stored_and_deactivated, "results stored and the 410 webhook deactivated")
        replayer_resp = await http.get(urls["dlq-replayer"] + "/dlq/messages", headers=stack.admin_headers)
        assert replayer_resp.status_code == 200, replayer_resp.text

        async def dispatcher_saw_both() -> bool:
            return (await scrape("dispatcher")).value("carehooks_events_consumed_total") >= 2

        await eventually(dispatcher_saw_both, "both events consumed")
        scrapes = {name: await scrape(name) for name in SERVICES}

    # Every metric name a dashboard or an alert reads is exported by some service.
    missing = {
        name: sorted(where)
        for name, where in used_metric_names().items()
        if name not in PROMETHEUS_SYNTHETIC and not any(s.exports(name) for s in scrapes.values())
    }
    assert missing == {}, f"used in dashboards/alerts but exported by no service: {missing}"

    # Every service: build info, readiness, runtime collectors, and nothing outside the prefix.
    for name, s in scrapes.items():
        service = name.replace("-", "_")
        assert s.value("carehooks_build_info", service=service) == 1.0, name
        assert s.value("carehooks_service_ready", service=service) == 1.0, name
        assert "process_cpu_seconds" in s.families, name
        own = {f for f in s.families if not f.startswith(("process_", "python_"))}
        assert all(f.startswith("carehooks_") for f in own), f"{name}: {sorted(own)}"

    # One lag metric across services, with the consumer group named.
    groups = {
        (s.labels["service"], s.labels["group"])
        for scrape_ in scrapes.values()
        for s in scrape_.samples
        if s.name == "carehooks_kafka_consumer_lag"
    }
    services_with_lag = {service for service, _ in groups}
    assert {"dispatcher", "delivery_worker", "config_api"} <= services_with_lag, groups
    assert all(group for _, group in groups)

    # The integration label: configured ids, the rogue header counted as `other`.
    dispatcher = scrapes["dispatcher"]
    assert dispatcher.label_values("carehooks_events_consumed_total", "integration") == {
        "surveymonkey",
        "other",
    }
    worker = scrapes["delivery-worker"]
    assert worker.label_values("carehooks_delivery_attempts_total", "integration") == {"surveymonkey"}
    assert (
        worker.value("carehooks_dead_lettered_total", integration="surveymonkey", reason="non_retryable") >= 1
    )

    # HTTP metrics by route template, never the raw path.
    config = scrapes["config-api"]
    routes = config.label_values("carehooks_http_requests_total", "route")
    assert "/admin/integration/{integration_id}/webhooks" in routes
    assert not [r for r in routes if "surveymonkey" in r or hooks["ok"]["id"] in r], routes
    assert config.value("carehooks_webhooks", integration="surveymonkey", state="inactive") == 1.0
    replayer = scrapes["dlq-replayer"]
    assert replayer.value("carehooks_http_requests_total", route="/dlq/messages", status_class="2xx") >= 1
    assert re.fullmatch(
        r"\d+\.\d+\.\d+.*", next(iter(config.label_values("carehooks_build_info", "version")))
    )
