"""The four services as real processes against the session broker and PostgreSQL.

``running_stack`` starts all four with free ports, this test's topics (TOPIC_PREFIX) and its own
database, waits for every /healthz, and yields their URLs and the admin token. ``stack_factory``
does the same for a subset of the services or with extra settings, e.g.::

    def test_x(stack_factory):
        stack = stack_factory(services=["config-api", "dispatcher"], extra_env={"LOG_LEVEL": "DEBUG"})
        stack.stop_service("dispatcher", signal.SIGKILL); stack.start_service("dispatcher")

Each service's output goes to a log file; the tail of each is printed at teardown (pytest shows it
when the test failed).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from contracts.topics import Topics
from devstack.ports import free_port
from devstack.processes import (
    SERVICES,
    ServiceSpec,
    service_by_name,
    spawn_service,
    stop_processes,
    wait_healthy,
)

HEALTH_TIMEOUT_S = 60.0


@dataclass
class RunningStack:
    """Services running as processes, and how to reach them."""

    env: dict[str, str]
    topics: Topics
    admin_token: str
    log_dir: Path
    specs: dict[str, ServiceSpec]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, name: str) -> str:
        """Base URL (``http://127.0.0.1:<port>``) of a service by name or module."""
        return service_by_name(name).base_url(self.env)

    @property
    def config_api_url(self) -> str:
        """Base URL of the config API."""
        return self.url("config-api")

    @property
    def admin_headers(self) -> dict[str, str]:
        """Authorization header with the bootstrap admin token."""
        return {"authorization": f"Bearer {self.admin_token}"}

    def log(self, name: str) -> str:
        """Everything the service wrote so far (stdout and stderr)."""
        path = self.log_dir / f"{service_by_name(name).name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start_service(self, name: str) -> None:
        """Start (or restart) one service and wait for its /healthz."""
        self.start_services([name])

    def start_services(self, names: list[str]) -> None:
        """Start several services at once, then wait until each answers /healthz."""
        specs = [service_by_name(n) for n in names]
        for spec in specs:
            with open(self.log_dir / f"{spec.name}.log", "ab") as out:
                self.processes[spec.name] = spawn_service(spec, self.env, out)
            self.specs[spec.name] = spec
        for spec in specs:
            try:
                wait_healthy(
                    spec.name,
                    spec.base_url(self.env) + "/healthz",
                    self.processes[spec.name],
                    HEALTH_TIMEOUT_S,
                )
            except (RuntimeError, TimeoutError) as exc:
                raise AssertionError(
                    f"{exc}\n--- {spec.name} log ---\n{self.log(spec.name)[-4000:]}"
                ) from None

    def stop_service(self, name: str, sig: signal.Signals = signal.SIGTERM) -> int:
        """Stop one service (SIGKILL: no graceful shutdown) and return its exit code."""
        spec = service_by_name(name)
        proc = self.processes.pop(spec.name)
        if sig == signal.SIGKILL:
            proc.kill()
            return proc.wait()
        return stop_processes([proc], grace_s=10.0)[0]

    def stop(self) -> None:
        """Stop every service still running."""
        stop_processes(self.processes.values(), grace_s=10.0)
        self.processes.clear()


StackFactory = Callable[..., RunningStack]


@pytest.fixture
def stack_factory(
    service_env: dict[str, str], database_url: str, topics: Topics, tmp_path: Path
) -> Iterator[StackFactory]:
    """Start services as processes: ``stack_factory(services=None, extra_env=None)``."""
    started: list[RunningStack] = []

    def start(services: list[str] | None = None, extra_env: dict[str, str] | None = None) -> RunningStack:
        token = "e2e-" + secrets.token_urlsafe(24)
        env = {**os.environ, **service_env, "DATABASE_URL": database_url, "ADMIN_TOKEN": token}
        for spec in SERVICES:
            env[spec.port_env] = str(free_port())
            env[spec.host_env] = "127.0.0.1"
        env.update(extra_env or {})
        log_dir = tmp_path / f"logs{len(started)}"
        log_dir.mkdir()
        stack = RunningStack(env=env, topics=topics, admin_token=token, log_dir=log_dir, specs={})
        started.append(stack)
        names = [service_by_name(n).name for n in services or [s.name for s in SERVICES]]
        # The config API first and alone: it applies the migrations the others may rely on.
        first = [n for n in names if n == "config-api"]
        if first:
            stack.start_services(first)
        stack.start_services([n for n in names if n != "config-api"])
        return stack

    yield start
    for stack in started:
        stack.stop()
        for name in stack.specs:
            print(f"--- {name} log (tail) ---\n{stack.log(name)[-3000:]}")


@pytest.fixture
def running_stack(stack_factory: StackFactory) -> RunningStack:
    """All four services running against this test's topics and database."""
    return stack_factory()
