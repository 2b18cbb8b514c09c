"""The shared metric helpers of service_kit: integration label, status class, HTTP middlewares, service metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fastapi import FastAPI, HTTPException
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from contracts.base import utcnow
from contracts.webhooks import PriorityRulesV1, WebhookConfigV1
from service_kit.config_view import WebhookView
from service_kit.http_metrics import AsgiHttpMetrics, HttpMetrics, status_class
from service_kit.integration_label import OTHER, KnownIntegrations, integration_label
from service_kit.service_metrics import ServiceMetrics


@pytest.mark.parametrize(
    ("value", "known", "expected"),
    [
        ("ehr", {"ehr", "surveymonkey"}, "ehr"),
        ("surveymonkey", {"ehr", "surveymonkey"}, "surveymonkey"),
        ("attacker-" + "x" * 100, {"ehr"}, OTHER),
        ("", {"ehr"}, OTHER),
        ("EHR", {"ehr"}, OTHER),  # ids are case-sensitive, as in the config API
        ("ehr", set(), OTHER),
    ],
)
def test_integration_label_keeps_only_configured_ids(value: str, known: set[str], expected: str) -> None:
    assert integration_label(value, known) == expected


def _webhook(wid: str, integration: str) -> bytes:
    return WebhookConfigV1(
        id=wid,
        integration_id=integration,
        integration_type="fhir",
        name=wid,
        subscription_url="https://example.org/h",
        event_types=["*"],
        version=1,
        updated_at=utcnow(),
    ).to_bytes()


def test_known_integrations_follow_the_config_view() -> None:
    view = WebhookView()
    view.apply("w0", _webhook("w0", "ehr"))  # before the tracker: taken from the view's state
    known = KnownIntegrations(view)
    view.apply("w1", _webhook("w1", "ehr"))
    view.apply("w2", _webhook("w2", "lab"))
    assert [known.label(i) for i in ("ehr", "lab", "billing")] == ["ehr", "lab", OTHER]
    view.apply("w2", None)  # the last webhook of "lab" deleted
    assert known.label("lab") == OTHER
    view.apply("w0", None)
    assert known.label("ehr") == "ehr"  # w1 still configures it
    view.apply("w1", _webhook("w1", "lab"))  # moved (a new version under another integration)
    assert (known.label("ehr"), known.label("lab")) == (OTHER, "lab")
    rules = PriorityRulesV1(integration_id="billing", updated_at=utcnow()).model_dump_json().encode()
    view.apply("priority-rules/billing", rules)
    assert known.label("billing") == "billing"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, "2xx"),
        (201, "2xx"),
        (304, "3xx"),
        (404, "4xx"),
        (422, "4xx"),
        (503, "5xx"),
        (99, "5xx"),
        (600, "5xx"),
    ],
)
def test_status_class(status: int, expected: str) -> None:
    assert status_class(status) == expected


def _samples(registry: CollectorRegistry, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in registry.collect()
        for s in family.samples
        if s.name == name
    }


@pytest.fixture
async def aiohttp_client_with_metrics() -> AsyncIterator[
    tuple[TestClient[web.Request, web.Application], CollectorRegistry]
]:
    registry = CollectorRegistry()
    metrics = HttpMetrics("svc", registry)

    async def item(request: web.Request) -> web.Response:
        if request.match_info["item_id"] == "gone":
            raise web.HTTPGone()
        if request.match_info["item_id"] == "boom":
            raise RuntimeError("handler bug")
        return web.json_response({"id": request.match_info["item_id"]})

    app = web.Application(middlewares=[metrics.aiohttp_middleware()])
    app.router.add_get("/items/{item_id}", item)
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client, registry
    await client.close()


async def test_aiohttp_middleware_labels_by_route_template(
    aiohttp_client_with_metrics: tuple[TestClient[web.Request, web.Application], CollectorRegistry],
) -> None:
    client, registry = aiohttp_client_with_metrics
    for path in ("/items/1", "/items/2", "/items/gone", "/items/boom", "/nowhere/7"):
        await client.get(path)
    await client.request("PROPFIND", "/items/3")  # a WebDAV method: 405, and not a label value
    counts = _samples(registry, "carehooks_http_requests_total")
    route = "/items/{item_id}"
    assert counts == {
        (("method", "GET"), ("route", route), ("service", "svc"), ("status_class", "2xx")): 2.0,
        (("method", "GET"), ("route", route), ("service", "svc"), ("status_class", "4xx")): 1.0,
        (("method", "GET"), ("route", route), ("service", "svc"), ("status_class", "5xx")): 1.0,
        (("method", "GET"), ("route", "unmatched"), ("service", "svc"), ("status_class", "4xx")): 1.0,
        (("method", "other"), ("route", "unmatched"), ("service", "svc"), ("status_class", "4xx")): 1.0,
    }
    durations = _samples(registry, "carehooks_http_request_duration_seconds_count")
    assert sum(durations.values()) == 6


async def test_asgi_middleware_labels_by_route_template() -> None:
    registry = CollectorRegistry()
    app = FastAPI()

    @app.get("/admin/integration/{integration_id}/webhooks/{webhook_id}")
    async def show(integration_id: str, webhook_id: str) -> dict[str, str]:
        if webhook_id == "missing":
            raise HTTPException(404, "no such webhook")
        if webhook_id == "boom":
            raise RuntimeError("handler bug")
        return {"id": webhook_id}

    app.add_middleware(AsgiHttpMetrics, metrics=HttpMetrics("api", registry))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for path in ("/admin/integration/ehr/webhooks/a", "/admin/integration/lab/webhooks/b"):
            assert (await client.get(path)).status_code == 200
        assert (await client.get("/admin/integration/ehr/webhooks/missing")).status_code == 404
        assert (await client.get("/admin/integration/ehr/webhooks/boom")).status_code == 500
        assert (await client.get("/secret/path/123")).status_code == 404
    counts = _samples(registry, "carehooks_http_requests_total")
    route = "/admin/integration/{integration_id}/webhooks/{webhook_id}"
    assert counts == {
        (("method", "GET"), ("route", route), ("service", "api"), ("status_class", "2xx")): 2.0,
        (("method", "GET"), ("route", route), ("service", "api"), ("status_class", "4xx")): 1.0,
        (("method", "GET"), ("route", route), ("service", "api"), ("status_class", "5xx")): 1.0,
        (("method", "GET"), ("route", "unmatched"), ("service", "api"), ("status_class", "4xx")): 1.0,
    }
    assert b"/secret/path" not in generate_latest(registry)


def test_service_metrics_carry_runtime_collectors_build_info_readiness_and_lag() -> None:
    ready = [False]
    metrics = ServiceMetrics("dispatcher", "dispatcher")
    metrics.watch_ready(lambda: ready[0])
    metrics.set_lag("g", "events", 3, -5)  # a position past a stale high-water mark: never negative
    metrics.set_lag("g", "events", 1, 42)
    text = generate_latest(metrics.registry).decode()
    assert "process_cpu_seconds_total" in text
    assert "python_info{" in text
    assert "python_gc_objects_collected_total" in text
    build = _samples(metrics.registry, "carehooks_build_info")
    ((labels, value),) = build.items()
    assert value == 1.0 and dict(labels)["service"] == "dispatcher" and dict(labels)["version"] != "unknown"
    assert _samples(metrics.registry, "carehooks_service_ready") == {(("service", "dispatcher"),): 0.0}
    ready[0] = True
    assert _samples(metrics.registry, "carehooks_service_ready") == {(("service", "dispatcher"),): 1.0}
    lag = _samples(metrics.registry, "carehooks_kafka_consumer_lag")
    assert lag == {
        (("group", "g"), ("partition", "3"), ("service", "dispatcher"), ("topic", "events")): 0.0,
        (("group", "g"), ("partition", "1"), ("service", "dispatcher"), ("topic", "events")): 42.0,
    }
    # Unchanged values are skipped, changed ones still land (the child is cached per partition).
    metrics.set_lag("g", "events", 1, 42)
    metrics.set_lag("g", "events", 1, 7)
    metrics.set_lag("g", "events", 3, 2)
    lag = _samples(metrics.registry, "carehooks_kafka_consumer_lag")
    assert sorted(lag.values()) == [2.0, 7.0]


def test_service_metrics_refuse_the_process_wide_registry() -> None:
    with pytest.raises(ValueError, match="own registry"):
        ServiceMetrics("x", "x", REGISTRY)


def test_worker_and_dispatcher_metrics_bound_the_integration_label() -> None:
    from delivery_worker.metrics import WorkerMetrics
    from dispatcher.metrics import DispatcherMetrics

    view = WebhookView()
    view.apply("w1", _webhook("w1", "ehr"))
    worker, dispatcher = WorkerMetrics(), DispatcherMetrics()
    assert worker.integration("ehr") == OTHER  # no view watched yet: nothing is configured
    worker.watch_integrations(view)
    dispatcher.watch_integrations(view)
    worker.child(worker.attempts, "ehr", "succeeded", "none").inc()
    worker.child(worker.attempts, "forged-by-a-producer", "succeeded", "none").inc()
    worker.child(worker.retries, "1").inc()  # not an integration metric: labels untouched
    assert _samples(worker.registry, "carehooks_delivery_attempts_total") == {
        (("error_category", "none"), ("integration", "ehr"), ("outcome", "succeeded")): 1.0,
        (("error_category", "none"), ("integration", OTHER), ("outcome", "succeeded")): 1.0,
    }
    assert _samples(worker.registry, "carehooks_retries_scheduled_total") == {(("tier", "1"),): 1.0}
    assert [dispatcher.integration(i) for i in ("ehr", "lab")] == ["ehr", OTHER]


def test_worker_per_integration_children_follow_the_configured_integrations() -> None:
    from delivery_worker.metrics import WorkerMetrics

    view = WebhookView()
    worker = WorkerMetrics()
    worker.watch_integrations(view)
    worker.of_integration("lab").succeeded.inc()  # not configured yet: counted as other
    view.apply("w2", _webhook("w2", "lab"))
    worker.of_integration("lab").succeeded.inc()
    worker.of_integration("lab").duration.observe(0.2)
    worker.of_integration("forged").duration.observe(0.1)
    assert _samples(worker.registry, "carehooks_delivery_attempts_total") == {
        (("error_category", "none"), ("integration", "lab"), ("outcome", "succeeded")): 1.0,
        (("error_category", "none"), ("integration", OTHER), ("outcome", "succeeded")): 1.0,
    }
    counts = _samples(worker.registry, "carehooks_delivery_duration_seconds_count")
    assert counts == {(("integration", "lab"),): 1.0, (("integration", OTHER),): 1.0}
