"""One event through config API, dispatcher and worker to a receiver with all Kafka traffic over mutual TLS.

A dedicated embedded broker advertises the port of a TLS terminator (tests/e2e/tls_proxy.py) whose
server certificate and client-certificate requirement come from a ``trustme`` CA. The services and
the ``publish`` tool get only the proxy's address and the KAFKA_SSL_* settings; a client without
TLS, or with TLS but without trusting the CA, cannot talk to the cluster.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import trustme
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from standardwebhooks import Webhook
from test_pipeline import (  # the loopback receiver fixture and helpers of the plain-text pipeline test
    FAST_RETRIES,
    SAMPLES,
    Receiver,
    create_webhook,
    eventually,
    publish,
    receiver,  # noqa: F401 - a fixture
    views_indexed,
)
from tls_proxy import TlsProxy, running_proxy

from devstack.broker import start_broker
from devstack.ports import free_port

if TYPE_CHECKING:
    from tests.e2e.conftest import StackFactory

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture
def tls_cluster(tmp_path: Path) -> Iterator[tuple[TlsProxy, dict[str, str]]]:
    """A broker reachable only through mutual TLS; yields the proxy and the client settings."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("carehooks-services")
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(str(files["ca"]))
    client.cert_chain_pems[0].write_to_path(str(files["cert"]))
    client.private_key_pem.write_to_path(str(files["key"]))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED  # mTLS: no client certificate, no connection
    proxy_port, broker_port = free_port(), free_port()
    broker = start_broker(port=broker_port, log_path=tmp_path / "tansu.log", advertised_port=proxy_port)
    try:
        with running_proxy(proxy_port, broker_port, context) as proxy:
            yield (
                proxy,
                {
                    "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{proxy_port}",
                    "KAFKA_SECURITY_PROTOCOL": "SSL",
                    "KAFKA_SSL_CA_FILE": str(files["ca"]),
                    "KAFKA_SSL_CERT_FILE": str(files["cert"]),
                    "KAFKA_SSL_KEY_FILE": str(files["key"]),
                    "KAFKA_CLIENT_ID": "carehooks-tls-test",
                },
            )
    finally:
        broker.stop()


async def _refused(**options: object) -> bool:
    producer = AIOKafkaProducer(request_timeout_ms=3000, **options)  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(producer.start(), 10)
    except (KafkaConnectionError, TimeoutError, ssl.SSLError, OSError):
        return True
    finally:
        await producer.stop()
    return False


async def test_event_reaches_the_receiver_with_all_kafka_traffic_over_mutual_tls(
    stack_factory: StackFactory,
    receiver: Receiver,  # noqa: F811 - the fixture imported above
    tls_cluster: tuple[TlsProxy, dict[str, str]],
) -> None:
    proxy, kafka_env = tls_cluster
    bootstrap = kafka_env["KAFKA_BOOTSTRAP_SERVERS"]
    # The cluster refuses plain text and TLS without a client certificate.
    assert await _refused(bootstrap_servers=bootstrap)
    no_cert = ssl.create_default_context(cafile=kafka_env["KAFKA_SSL_CA_FILE"])
    assert await _refused(bootstrap_servers=bootstrap, security_protocol="SSL", ssl_context=no_cert)
    before = proxy.handshakes

    stack = stack_factory(services=["config-api", "dispatcher", "delivery-worker"], extra_env=kafka_env)
    async with httpx.AsyncClient(
        base_url=stack.config_api_url, headers=stack.admin_headers, timeout=10
    ) as api:
        hook = await create_webhook(
            api,
            "ehr",
            {
                "subscription_url": f"{receiver.url}/fhir",
                "event_types": ["Appointment.*"],
                "retry_policy": FAST_RETRIES,
            },
        )
        await views_indexed(stack, 1, timeout_s=60)  # over TLS

        # The publish tool reads the same KAFKA_SSL_* settings from its environment.
        await publish(stack, SAMPLES / "fhir" / "appointment.json", "--interaction", "create")

        headers, body = await receiver.wait_for("/fhir", timeout_s=60)
        payload = Webhook(hook["signing_secret"]).verify(body, headers)
        assert payload["type"] == "Appointment.create"

        # The attempt comes back through webhooks.delivery-results (consumed by the config API over TLS).
        base = f"/admin/integration/ehr/webhooks/{hook['id']}"

        async def logged() -> list[dict[str, object]]:
            items: list[dict[str, object]] = (await api.get(f"{base}/logs")).json()["items"]
            return [i for i in items if i["outcome"] == "succeeded"]

        (entry,) = await eventually(logged, "the delivery log entry", timeout_s=60)
        assert (entry["delivery_id"], entry["status_code"]) == (headers["webhook-id"], 200)
    # Three services (producers, consumers, admin clients) and the publish tool all went through TLS.
    assert proxy.handshakes - before >= 6
