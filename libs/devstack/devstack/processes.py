"""The four services as child processes: the table of them, spawning, health waits and teardown.

Shared by the local launcher (``make run``) and the e2e ``running_stack`` fixture so both start and
stop the services the same way. Each service runs in its own session (process group), so a terminal
Ctrl-C reaches only the launcher, and teardown can signal a whole group: no grandchild survives.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import IO

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ServiceSpec:
    """One service: its name, the module run with ``python -m`` and its env prefix and default port."""

    name: str
    module: str
    env_prefix: str
    default_port: int

    @property
    def port_env(self) -> str:
        """Environment variable of its port, e.g. ``CONFIG_API_PORT``."""
        return f"{self.env_prefix}PORT"

    @property
    def host_env(self) -> str:
        """Environment variable of its listen address, e.g. ``CONFIG_API_HOST``."""
        return f"{self.env_prefix}HOST"

    def address(self, env: Mapping[str, str]) -> tuple[str, int]:
        """Host and port it listens on under ``env`` (raises ValueError naming a bad port)."""
        host = env.get(self.host_env) or "127.0.0.1"
        raw = env.get(self.port_env) or str(self.default_port)
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise ValueError(f"invalid setting {self.port_env}: {raw!r} is not a TCP port")
        return host, int(raw)

    def base_url(self, env: Mapping[str, str]) -> str:
        """``http://host:port`` of the service under ``env``."""
        host, port = self.address(env)
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("config-api", "config_api", "CONFIG_API_", 8080),
    ServiceSpec("dispatcher", "dispatcher", "DISPATCHER_", 9101),
    ServiceSpec("delivery-worker", "delivery_worker", "DELIVERY_WORKER_", 9102),
    ServiceSpec("dlq-replayer", "dlq_replayer", "DLQ_REPLAYER_", 8083),
)
"""Start order matters: the config API applies the migrations the others rely on."""


def service_by_name(name: str) -> ServiceSpec:
    """Look a service up by its name (``config-api``) or module (``config_api``)."""
    for spec in SERVICES:
        if name in (spec.name, spec.module):
            return spec
    known = ", ".join(s.name for s in SERVICES)
    raise ValueError(f"unknown service {name!r} (known: {known})")


def die_with_parent() -> None:
    """``preexec_fn`` of a child that must not outlive its parent (Linux; a no-op elsewhere).

    Runs in the child between fork and exec: if the parent dies without tearing down (SIGKILL), the
    kernel sends SIGTERM to the child instead of leaving it orphaned. The parent is the *thread* that
    started the child: start such children from the main thread only.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def spawn_service(
    spec: ServiceSpec, env: Mapping[str, str], stdout: int | IO[bytes] | None
) -> subprocess.Popen[bytes]:
    """Start ``python -m <module>`` in a new session with stderr merged into ``stdout``."""
    return subprocess.Popen(
        [sys.executable, "-m", spec.module],
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent if sys.platform == "linux" else None,
    )


def interrupt_on_sigterm() -> None:
    """Make SIGTERM (and SIGINT) raise KeyboardInterrupt in a process that starts others.

    SIGTERM's default action ends a process at once, skipping the ``finally`` blocks that stop the
    broker, PostgreSQL and services it started (a benchmark stopped by ``kill`` or by a timeout left them
    all running); a background job of a non-interactive shell starts with SIGINT ignored. As
    KeyboardInterrupt both unwind like Ctrl-C: ``asyncio.Runner`` cancels the main task and its clean-up
    runs.
    """
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)


class ServiceExitedError(RuntimeError):
    """A service process ended while we waited for it to become healthy."""


def http_ok(url: str, timeout_s: float = 1.0) -> bool:
    """Whether GET ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_healthy(name: str, url: str, process: subprocess.Popen[bytes], timeout_s: float) -> float:
    """Poll ``url`` until it answers 200; return the seconds waited.

    Raises ServiceExitedError if the process ends first and TimeoutError after ``timeout_s``.
    """
    start = time.monotonic()
    while True:
        if http_ok(url):
            return time.monotonic() - start
        code = process.poll()
        if code is not None:
            raise ServiceExitedError(f"{name} exited with code {code} before {url} answered")
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"{name} did not answer 200 on {url} within {timeout_s:.0f}s")
        time.sleep(0.1)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # The group id is the leader's pid (start_new_session). It outlives the leader while any
    # grandchild is still in it, which is exactly what the final SIGKILL must reach.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def stop_processes(processes: Iterable[subprocess.Popen[bytes]], grace_s: float = 10.0) -> list[int]:
    """SIGTERM every process group, wait up to ``grace_s`` in total, then SIGKILL what is left.

    Returns the exit codes, in order. Always ends with a SIGKILL to each group so no grandchild lingers.
    """
    procs = list(processes)
    for proc in procs:
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    codes = []
    for proc in procs:
        _signal_group(proc, signal.SIGKILL)
        codes.append(proc.wait())
    return codes


def port_bindable(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now.

    Binds with SO_REUSEADDR like the servers do, so sockets in TIME_WAIT from a previous run do not
    count as taken, while any listener (also one on 0.0.0.0) does.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
