"""The results ingest's span: one per stored batch, linked to the attempt spans of its results."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from capi_harness import ApiHarness, make_settings, start_harness
from delivery_helpers import make_result, wait_ingested, wait_until
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from contracts.topics import Topics
from service_kit.kafka import producer_options
from service_kit.kafka_security import embedded_broker_client

pytestmark = pytest.mark.integration

ATTEMPT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
async def traced_api(
    span_exporter: InMemorySpanExporter, database_url: str, service_env: dict[str, str], topics: Topics
) -> AsyncIterator[ApiHarness]:
    """A config API started with tracing on (the exporter is installed before the ingestor exists)."""
    del topics, span_exporter
    async for harness in start_harness(make_settings(database_url, service_env)):
        yield harness


async def test_results_ingest_span_links_the_attempts(
    traced_api: ApiHarness, span_exporter: InMemorySpanExporter
) -> None:
    wh = await traced_api.create_webhook()
    settings = traced_api.settings
    producer = AIOKafkaProducer(
        **producer_options(settings.kafka_bootstrap_servers, embedded_broker_client())
    )
    await producer.start()
    try:
        traced, untraced = make_result(wh, "d-traced"), make_result(wh, "d-untraced")
        for result, headers in ((traced, [("traceparent", ATTEMPT.encode())]), (untraced, [])):
            await producer.send(
                settings.topics.delivery_results,
                result.to_bytes(),
                key=result.webhook_id.encode(),
                headers=headers,
            )
        await producer.flush()
    finally:
        await producer.stop()
    await wait_ingested(traced_api.app.state.results_ingestor, 2)

    def ingest_spans() -> list[ReadableSpan]:
        return [s for s in span_exporter.get_finished_spans() if s.name == "results ingest"]

    def counted() -> int:  # the span ends after the batch's offsets are committed
        return sum(int((s.attributes or {}).get("messaging.batch.message_count", 0)) for s in ingest_spans())

    await wait_until(lambda: counted() == 2, 10, "results ingest spans over both results")
    spans = ingest_spans()
    linked = [link.context for s in spans for link in s.links]
    assert [(c.trace_id, c.span_id) for c in linked] == [
        (0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7)
    ]
