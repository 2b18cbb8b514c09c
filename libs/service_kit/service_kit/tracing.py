"""OpenTelemetry traces across Kafka: off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

:func:`setup_tracing` (called once per process by a service's ``__main__``) installs a
:class:`TracerProvider` that exports over OTLP/HTTP in batches; the standard ``OTEL_*`` variables
(``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_SERVICE_NAME``, ``OTEL_BSP_*``, ``OTEL_TRACES_SAMPLER`` …)
apply. Without the endpoint nothing is installed and :func:`tracer` hands out OpenTelemetry's no-op
tracer, whose spans record nothing and cost a function call.

The trace context travels as a W3C ``traceparent`` (and ``tracestate``) Kafka header and HTTP header.
Span attributes carry ids, counts and status codes only, never payload data.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from contextlib import AbstractContextManager, nullcontext

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace import INVALID_SPAN, Link, NoOpTracer, Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from contracts.headers import HeaderValue, header_text

__all__ = [
    "Span",
    "SpanKind",
    "Tracer",
    "enabled",
    "extract",
    "inject_headers",
    "inject_http",
    "setup_tracing",
    "span_from",
    "tracer",
    "tracing_on",
]

KafkaHeaders = Sequence[tuple[str, HeaderValue]]
TRACE_HEADERS = ("traceparent", "tracestate")
_PROPAGATOR = TraceContextTextMapPropagator()
_installed = False


class _KafkaGetter(Getter[KafkaHeaders]):
    """Reads a Kafka header list (bytes values; ``None`` for a header without a value is absent)."""

    def get(self, carrier: KafkaHeaders, key: str) -> list[str] | None:
        values = [text for name, value in carrier if name == key and (text := header_text(value)) is not None]
        return values or None

    def keys(self, carrier: KafkaHeaders) -> list[str]:
        return [name for name, _ in carrier]


class _KafkaSetter(Setter[list[tuple[str, bytes]]]):
    """Appends to a Kafka header list, replacing a header of the same name."""

    def set(self, carrier: list[tuple[str, bytes]], key: str, value: str) -> None:
        carrier[:] = [(name, val) for name, val in carrier if name != key]
        carrier.append((key, value.encode()))


_GETTER = _KafkaGetter()
_OFF = nullcontext(INVALID_SPAN)
_SETTER = _KafkaSetter()


def setup_tracing(service: str, environ: Mapping[str, str] | None = None) -> bool:
    """Install the OTLP-exporting provider when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces-only
    endpoint) is set; returns whether tracing is on. The service name is ``OTEL_SERVICE_NAME`` or
    ``carehooks-<service>``."""
    global _installed
    env = os.environ if environ is None else environ
    if not (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return False
    if _installed:
        return True
    # Imported only when tracing is on: the SDK and exporter are not loaded in a process without it.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = env.get("OTEL_SERVICE_NAME") or f"carehooks-{service}"
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _installed = True
    return True


def enabled() -> bool:
    """Whether a tracer provider is installed (by :func:`setup_tracing`, or a test's in-memory one)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def tracer(name: str) -> Tracer:
    """The tracer of a component: the installed provider's, else the no-op tracer (nothing recorded)."""
    if not enabled():
        return NoOpTracer()
    return trace.get_tracer_provider().get_tracer(name)


def tracing_on(tracer_: Tracer) -> bool:
    """Whether ``tracer_`` records (from :func:`tracer`): a component with tracing off can skip
    injecting trace headers altogether."""
    return not isinstance(tracer_, NoOpTracer)


def span_from(
    tracer_: Tracer,
    name: str,
    headers: KafkaHeaders | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    links: Sequence[Link] = (),
) -> AbstractContextManager[Span]:
    """A current span continuing the ``traceparent`` of ``headers`` (a new trace without one).

    With tracing off this is one shared null context around the invalid span: no header is parsed,
    nothing is attached to the context, so nothing is propagated either (~0.1 µs).
    """
    if isinstance(tracer_, NoOpTracer):
        return _OFF
    # An exception's message may echo input (payload data): it is not recorded, nor made the status.
    return tracer_.start_as_current_span(
        name,
        context=extract(headers),
        kind=kind,
        links=links,
        record_exception=False,
        set_status_on_exception=False,
    )


def extract(headers: KafkaHeaders | None) -> Context | None:
    """The trace context of a record's ``traceparent`` header; None when it has none (a new trace)."""
    if not headers or not any(name == "traceparent" for name, _ in headers):
        return None
    return _PROPAGATOR.extract(headers, getter=_GETTER)


def links(tracer_: Tracer, header_lists: Iterable[KafkaHeaders | None], limit: int = 128) -> list[Link]:
    """Links to the traces of a batch's records (their ``traceparent``), at most ``limit``; none (and
    no header parsed) when tracing is off."""
    if isinstance(tracer_, NoOpTracer):
        return []
    out: list[Link] = []
    for headers in header_lists:
        context = extract(headers)
        span_context = trace.get_current_span(context).get_span_context() if context is not None else None
        if span_context is not None and span_context.is_valid:
            out.append(Link(span_context))
            if len(out) >= limit:
                break
    return out


def inject_headers(headers: Iterable[tuple[str, bytes]] = ()) -> list[tuple[str, bytes]]:
    """``headers`` plus the current span's ``traceparent`` (unchanged when no span is recording)."""
    out = list(headers)
    if trace.get_current_span().get_span_context().is_valid:
        _PROPAGATOR.inject(out, setter=_SETTER)
    return out


def inject_http(headers: MutableMapping[str, str]) -> None:
    """Add the current span's ``traceparent`` to outgoing HTTP headers (nothing when no span is active)."""
    if trace.get_current_span().get_span_context().is_valid:
        _PROPAGATOR.inject(headers)
