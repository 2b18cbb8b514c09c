"""Metric conventions hold for every service, and docs/metrics.md is what the code defines."""

from __future__ import annotations

import pytest
from observability_support import ROOT, load_script

from service_kit.metric_catalogue import MetricDoc, describe, render_markdown

CATALOGUE = load_script("deploy/prometheus/metrics_catalogue.py")
SERVICES = CATALOGUE.service_metrics()


def test_every_service_is_in_the_catalogue() -> None:
    assert set(SERVICES) == {"config_api", "dispatcher", "delivery_worker", "dlq_replayer"}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_metric_names_follow_the_conventions(service: str) -> None:
    docs: list[MetricDoc] = SERVICES[service]
    for doc in docs:
        assert doc.name.startswith("carehooks_"), doc.name
        assert doc.help.strip(), f"{doc.name} has no help text"
        if doc.type == "counter":
            assert doc.name.endswith("_total"), doc.name
        if doc.type == "histogram":
            assert doc.name.endswith(("_seconds", "_bytes")), f"{doc.name}: histograms are in base units"
        assert "integration" not in doc.labels or doc.name != "carehooks_build_info"
    names = {doc.name for doc in docs}
    # One name per concept, shared by every service.
    assert {"carehooks_build_info", "carehooks_service_ready", "carehooks_kafka_consumer_lag"} <= names


def test_consumer_lag_is_one_metric_with_the_same_labels_everywhere() -> None:
    lags = {
        service: next(d for d in docs if d.name == "carehooks_kafka_consumer_lag")
        for service, docs in SERVICES.items()
    }
    assert {lag.labels for lag in lags.values()} == {("service", "group", "topic", "partition")}
    assert not [
        d.name for docs in SERVICES.values() for d in docs if "lag" in d.name and d not in lags.values()
    ]


def test_admin_apis_export_http_metrics() -> None:
    for service in ("config_api", "dlq_replayer"):
        names = {d.name: d for d in SERVICES[service]}
        assert names["carehooks_http_requests_total"].labels == ("service", "route", "method", "status_class")
        assert "carehooks_http_request_duration_seconds" in names


def test_docs_metrics_md_matches_the_code() -> None:
    committed = (ROOT / "docs" / "metrics.md").read_text()
    assert committed == CATALOGUE.catalogue(), "docs/metrics.md is out of date: run `make metrics-doc`"


def test_the_catalogue_shows_a_new_metric() -> None:
    from prometheus_client import CollectorRegistry, Counter

    registry = CollectorRegistry()
    Counter("carehooks_widgets_total", "Widgets.", ["kind"], registry=registry)
    text = render_markdown({"svc": describe(registry)}, "gen")
    assert "| `carehooks_widgets_total` | counter | `kind` | Widgets. |" in text
