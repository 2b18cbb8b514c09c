"""A small process supervisor for the services, the embedded infrastructure and the receiver.

Each service runs as ``python -m <service>`` in its own session (so a SIGKILL hits only it), with
its log in ``<run_dir>/<name>.log``. Health is polled on ``/healthz`` and ``/readyz``. Peak RSS of
each service (summed over restarts: the maximum of any one incarnation) is sampled with psutil.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from devstack.broker import EMBEDDED_BROKER_ENV
from devstack.ports import free_port, wait_for_port
from devstack.processes import die_with_parent

REPO = Path(__file__).resolve().parents[2]
RECEIVER_SCRIPT = Path(__file__).resolve().parent / "receiver.py"


@dataclass
class ServiceSpec:
    """How to run one service."""

    name: str
    module: str
    port: int
    env: dict[str, str]
    ready_path: str = "/readyz"


@dataclass
class ServiceProc:
    """One supervised process (restartable)."""

    spec: ServiceSpec
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    peak_rss: int = 0
    events: list[tuple[float, str]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.spec.port}"

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        log.write(f"\n===== start #{self.starts + 1} at {time.time():.3f}\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.spec.module],
            cwd=REPO,
            env={**os.environ, **self.spec.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        log.close()
        self.starts += 1
        self.events.append((time.time(), "start"))

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, no grace: in-flight work is lost unless the service is at-least-once."""
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.events.append((time.time(), "kill"))

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM (graceful), then SIGKILL after ``timeout_s``."""
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.events.append((time.time(), "stop"))

    def sample_rss(self) -> None:
        if not self.alive():
            return
        assert self.process is not None
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(self.process.pid)
            rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
            self.peak_rss = max(self.peak_rss, rss)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


async def wait_http_ok(url: str, timeout_s: float, proc: ServiceProc | None = None) -> None:
    """Poll ``url`` until it answers 200 (raises TimeoutError naming the URL, or when the process died)."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc is not None and proc.process is not None and proc.process.poll() is not None:
                raise RuntimeError(
                    f"{proc.spec.name} exited with code {proc.process.returncode}:\n{proc.log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    tail = f"\n{proc.log_tail()}" if proc is not None else ""
    raise TimeoutError(f"{url} not ready after {timeout_s:.0f}s{tail}")


class Supervisor:
    """Starts, restarts and kills the services; samples their RSS in a background thread."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, ServiceProc] = {}
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            for proc in list(self.procs.values()):
                proc.sample_rss()

    def add(self, spec: ServiceSpec) -> ServiceProc:
        proc = ServiceProc(spec, self.run_dir / f"{spec.name}.log")
        self.procs[spec.name] = proc
        return proc

    async def start(self, name: str, timeout_s: float = 90.0) -> None:
        proc = self.procs[name]
        proc.start()
        await self.wait_ready(name, timeout_s)

    async def wait_ready(self, name: str, timeout_s: float = 90.0) -> None:
        proc = self.procs[name]
        await wait_http_ok(proc.base_url + proc.spec.ready_path, timeout_s, proc)

    async def restart(
        self, name: str, hard: bool = False, pause_s: float = 0.5, timeout_s: float = 90.0
    ) -> float:
        """Kill (hard) or stop (graceful) then start again; returns seconds until ready again."""
        proc = self.procs[name]
        began = time.monotonic()
        if hard:
            await asyncio.to_thread(proc.kill)
        else:
            await asyncio.to_thread(proc.stop)
        await asyncio.sleep(pause_s)
        await self.start(name, timeout_s)
        return time.monotonic() - began

    def shutdown(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(Exception):
                proc.stop(timeout_s=10)
        self._stop.set()

    def peak_rss_mb(self) -> dict[str, float]:
        return {name: round(p.peak_rss / 1e6, 1) for name, p in self.procs.items()}


@dataclass
class Infra:
    """Broker and PostgreSQL (embedded ones are owned and stopped by us)."""

    bootstrap: str
    dsn: str
    broker: Any = None
    postgres: Any = None

    def stop_postgres(self) -> None:
        if self.postgres is None:
            raise RuntimeError("PostgreSQL is not embedded: cannot stop it")
        self.postgres.stop()

    def start_postgres(self) -> None:
        self.postgres.start()

    def close(self) -> None:
        if self.postgres is not None:
            with contextlib.suppress(Exception):
                self.postgres.cleanup()
        if self.broker is not None:
            self.broker.stop()


def start_infra(run_dir: Path) -> Infra:
    """Use ``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` when set, else start embedded ones under ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    broker = None
    if not bootstrap:
        from devstack.broker import start_broker

        broker = start_broker(port=free_port(), log_path=run_dir / "tansu.log")
        bootstrap = broker.bootstrap_servers
    dsn = os.environ.get("DATABASE_URL")
    postgres = None
    if not dsn:
        from devstack.postgres import start_postgres

        data = run_dir / "pg" / "data"
        data.parent.mkdir(parents=True, exist_ok=True)
        # PostgreSQL's helper wants a private runtime dir (0700), else it warns and falls back to /tmp
        xdg = data.parent / "xdg-runtime"
        xdg.mkdir(mode=0o700, exist_ok=True)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(xdg))
        postgres = start_postgres(data)
        dsn = postgres.dsn
    return Infra(bootstrap=bootstrap, dsn=dsn, broker=broker, postgres=postgres)


@dataclass
class StackConfig:
    """Everything the services need to find each other."""

    bootstrap: str
    dsn: str
    topic_prefix: str
    secrets_key: str
    admin_token: str
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)


SERVICES = ("config_api", "dispatcher", "delivery_worker")


def service_specs(cfg: StackConfig, names: tuple[str, ...] = SERVICES) -> list[ServiceSpec]:
    """Specs of the services, each on a free port, with the project's environment names."""
    common = {
        **EMBEDDED_BROKER_ENV,
        "KAFKA_BOOTSTRAP_SERVERS": cfg.bootstrap,
        "TOPIC_PREFIX": cfg.topic_prefix,
        "WEBHOOK_SECRETS_KEY": cfg.secrets_key,
        "WEBHOOK_ALLOW_HTTP": "true",
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "LOG_JSON": "true",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    specs: list[ServiceSpec] = []
    for name in names:
        port = free_port()
        env = dict(common)
        if name == "config_api":
            env |= {
                "DATABASE_URL": cfg.dsn,
                "ADMIN_TOKEN": cfg.admin_token,
                "CONFIG_API_HOST": "127.0.0.1",
                "CONFIG_API_PORT": str(port),
            }
        elif name == "dispatcher":
            # own consumer groups: other stacks on the same broker (tests) must not rebalance ours
            env |= {
                "DISPATCHER_HOST": "127.0.0.1",
                "DISPATCHER_PORT": str(port),
                "DISPATCHER_GROUP_ID": f"{cfg.topic_prefix}dispatcher",
            }
        elif name == "delivery_worker":
            env |= {
                "DELIVERY_WORKER_HOST": "127.0.0.1",
                "DELIVERY_WORKER_PORT": str(port),
                "DELIVERY_WORKER_GROUP_ID": f"{cfg.topic_prefix}delivery-worker",
            }
        env |= cfg.extra_env.get(name, {})
        specs.append(ServiceSpec(name=name, module=name, port=port, env=env))
    return specs


class ReceiverProc:
    """The recording receiver in its own process."""

    def __init__(self, run_dir: Path, verify: bool = True) -> None:
        self.port = free_port()
        self.verify = verify
        self.log_path = run_dir / "receiver.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, label: str) -> str:
        return f"{self.base_url}/h/{label}"

    @property
    def pid(self) -> int:
        """The receiver's process id (once started)."""
        if self.process is None:
            raise RuntimeError("the receiver is not started")
        return self.process.pid

    def start(self) -> None:
        args = [sys.executable, str(RECEIVER_SCRIPT), "--port", str(self.port)]
        if not self.verify:
            args.append("--no-verify")
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            args,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        log.close()
        wait_for_port("127.0.0.1", self.port, timeout_s=20)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class ReceiverClient:
    """Controls a receiver and pulls its records incrementally."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.records: list[dict[str, Any]] = []
        self._client = httpx.AsyncClient(base_url=base_url, timeout=30.0)
        # pulls from several tasks must not fetch the same range twice (that would both duplicate
        # records and skip later ones, since the next offset is our own length)
        self._pull_lock = asyncio.Lock()

    async def set_faults(
        self,
        error_rate: float = 0.0,
        error_status: int = 500,
        hang: dict[str, float] | None = None,
        gone: list[str] | None = None,
    ) -> None:
        doc = {"error_rate": error_rate, "error_status": error_status, "hang": hang or {}, "gone": gone or []}
        (await self._client.post("/_control/faults", json=doc)).raise_for_status()

    async def set_secrets(self, secrets: dict[str, list[str]]) -> None:
        (await self._client.post("/_control/secrets", json=secrets)).raise_for_status()

    async def pull(self) -> list[dict[str, Any]]:
        """Fetch records not seen yet; returns the new ones."""
        async with self._pull_lock:
            resp = await self._client.get("/_records", params={"since": len(self.records)})
            resp.raise_for_status()
            new = resp.json()["records"]
            self.records.extend(new)
            return list(new)

    async def close(self) -> None:
        await self._client.aclose()
