"""service_kit.tracing: off (no-op, nothing installed) without an OTLP endpoint; W3C context over
Kafka header lists (bytes values, None for a header without a value)."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from service_kit import tracing

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_off_without_endpoint_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[Any] = []
    monkeypatch.setattr(trace, "set_tracer_provider", installed.append)
    assert tracing.setup_tracing("dispatcher", {"OTEL_SERVICE_NAME": "x"}) is False
    assert installed == []  # no provider, no exporter, no export thread
    tracer = tracing.tracer("carehooks.test")
    assert isinstance(tracer, trace.NoOpTracer)
    incoming = [("traceparent", PARENT.encode())]
    with tracing.span_from(tracer, "dispatch", incoming, tracing.SpanKind.CONSUMER) as span:
        assert not span.is_recording()
        assert tracing.inject_headers([("a", b"1")]) == [("a", b"1")]  # nothing propagated when off
        http: dict[str, str] = {}
        tracing.inject_http(http)
        assert http == {}
    assert tracing.links(tracer, [[("traceparent", PARENT.encode())]]) == []


def test_endpoint_installs_an_otlp_provider_with_the_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[TracerProvider] = []
    monkeypatch.setattr(trace, "set_tracer_provider", installed.append)
    monkeypatch.setattr(tracing, "_installed", False)
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    assert tracing.setup_tracing("delivery-worker", env) is True
    (provider,) = installed
    try:
        assert provider.resource.attributes["service.name"] == "carehooks-delivery-worker"
    finally:
        provider.shutdown()


def test_extract_reads_bytes_and_treats_a_null_header_as_absent() -> None:
    assert tracing.extract(None) is None
    assert tracing.extract([("other", b"x")]) is None
    nulled = tracing.extract([("traceparent", None)])
    assert nulled is None or not trace.get_current_span(nulled).get_span_context().is_valid
    garbled = tracing.extract([("traceparent", b"\xff\xfe not a traceparent")])
    assert garbled is None or not trace.get_current_span(garbled).get_span_context().is_valid
    context = tracing.extract([("traceparent", PARENT.encode())])
    assert context is not None
    parent = trace.get_current_span(context).get_span_context()
    assert (parent.trace_id, parent.span_id) == (0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7)


def test_inject_replaces_a_stale_traceparent_and_links_a_batch(span_exporter: InMemorySpanExporter) -> None:
    tracer = tracing.tracer("carehooks.test")
    with tracer.start_as_current_span(
        "x", context=tracing.extract([("traceparent", PARENT.encode())])
    ) as span:
        headers = tracing.inject_headers([("traceparent", b"stale"), ("message-type", b"delivery_job.v1")])
        http: dict[str, str] = {}
        tracing.inject_http(http)
    own = f"00-4bf92f3577b34da6a3ce929d0e0e4736-{span.get_span_context().span_id:016x}-01"
    assert headers == [("message-type", b"delivery_job.v1"), ("traceparent", own.encode())]
    assert http == {"traceparent": own}
    batch = [[("traceparent", PARENT.encode())], [("traceparent", None)], None, [("x", b"y")]]
    (link,) = tracing.links(tracer, batch)
    assert link.context.span_id == 0x00F067AA0BA902B7


def test_an_exception_in_a_span_leaves_no_message(span_exporter: InMemorySpanExporter) -> None:
    with pytest.raises(ValueError), tracing.span_from(tracing.tracer("carehooks.test"), "dispatch"):
        raise ValueError("PAYLOAD-MARKER in an exception message")
    (span,) = span_exporter.get_finished_spans()
    assert "PAYLOAD-MARKER" not in repr([*span.events, span.status.description, span.attributes])
