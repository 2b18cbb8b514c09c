"""``make run``'s launcher as a process: it starts everything, and Ctrl-C leaves nothing behind.

The launcher starts its own embedded broker and PostgreSQL here (KAFKA_BOOTSTRAP_SERVERS and
DATABASE_URL unset), exactly as ``make run`` does on a fresh machine, with every port moved to a
free one and the run dir in tmp_path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from devstack.ports import free_port, free_ports
from devstack.processes import SERVICES, http_ok

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = REPO / "deploy" / "local" / "launcher.py"
UP_TIMEOUT_S = 120.0


def launcher_env(run_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh `make run`: nothing configured, every port free."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "TOPIC_PREFIX")
    }
    for name in (
        "ADMIN_TOKEN",
        "WEBHOOK_SECRETS_KEY",
        "WEBHOOK_ALLOW_HTTP",
        "WEBHOOK_ALLOWED_NETWORKS",
        "LOG_JSON",
    ):
        env.pop(name, None)
    env["CAREHOOKS_RUN_DIR"] = str(run_dir)
    kafka_port, *service_ports = free_ports(1 + len(SERVICES))  # distinct, or the launcher refuses them
    env["KAFKA_PORT"] = str(kafka_port)
    for spec, port in zip(SERVICES, service_ports, strict=True):
        env[spec.port_env] = str(port)
    env["CAREHOOKS_STOP_GRACE_S"] = "10"
    env.update(extra)
    return env


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_launcher(env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    # Started with SIGINT ignored, as a shell starts background jobs: Ctrl-C must still work.
    with open(out, "ab") as sink:
        return subprocess.Popen(
            [sys.executable, str(LAUNCHER)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=_ignore_sigint,
        )


def wait_up(proc: subprocess.Popen[bytes], env: dict[str, str], out: Path) -> None:
    """Until the /healthz of every service it runs answers 200 and the launcher printed its banner."""
    names = env.get("CAREHOOKS_SERVICES", "").split(",")
    urls = [
        f"http://127.0.0.1:{env[s.port_env]}/healthz" for s in SERVICES if s.name in names or names == [""]
    ]
    deadline = time.monotonic() + UP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"launcher exited with {proc.returncode}:\n{out.read_text()[-5000:]}")
        # The banner's last line: the lines before it (the admin token) are written by then.
        if all(http_ok(u) for u in urls) and "both CLIs read the dev token" in out.read_text():
            return
        time.sleep(0.2)
    pytest.fail(f"stack not up within {UP_TIMEOUT_S:.0f}s:\n{out.read_text()[-5000:]}")


def everything_started(proc: subprocess.Popen[bytes], run_dir: Path) -> list[psutil.Process]:
    """The launcher's descendants (services, their children, the broker) plus the postmaster."""
    found = psutil.Process(proc.pid).children(recursive=True)
    pid_file = run_dir / "pgdata" / "postmaster.pid"
    assert pid_file.exists(), "embedded PostgreSQL is not running from the run dir"
    found.append(psutil.Process(int(pid_file.read_text().split()[0])))
    found.extend(found[-1].children(recursive=True))
    return found


def still_alive(processes: list[psutil.Process]) -> list[str]:
    alive = []
    for p in processes:
        try:
            # Zombies are dead; this container's init may be slow to reap reparented ones.
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            continue
    return alive


def wait_gone(processes: list[psutil.Process], timeout_s: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while (alive := still_alive(processes)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def test_run_twice_then_ctrl_c_and_a_dying_service_leave_nothing_behind(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    out = tmp_path / "launcher.out"
    env = launcher_env(run_dir)

    # First run: all four healthy, then Ctrl-C.
    proc = start_launcher(env, out)
    try:
        wait_up(proc, env, out)
        started = everything_started(proc, run_dir)
        service_pids = {c.pid for c in psutil.Process(proc.pid).children() if "-m" in c.cmdline()}
        assert len(service_pids) == len(SERVICES), out.read_text()[-3000:]
        token = (run_dir / "admin_token").read_text().strip()
        assert token in out.read_text(), "the dev admin token is printed"
        assert oct((run_dir / "admin_token").stat().st_mode & 0o777) == "0o600"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=40) == 0, out.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert wait_gone(started) == []
    assert not (run_dir / "pgdata" / "postmaster.pid").exists(), "PostgreSQL left a stale pid file"
    text = out.read_text()
    assert "dev profile" in text
    assert "memory only" in text
    assert "topics present (2 partitions each for new ones)" in text  # the embedded broker's count

    # Second run right after, same ports and run dir: comes up again with the kept token and data
    # (the config API alone is enough to show that, and keeps the suite fast).
    out.write_text("")
    env["CAREHOOKS_SERVICES"] = "config-api"
    proc = start_launcher(env, out)
    try:
        wait_up(proc, env, out)
        assert token in out.read_text()
        started = everything_started(proc, run_dir)
        # A service dying brings everything down with a non-zero code.
        victim = next(c for c in psutil.Process(proc.pid).children() if "config_api" in c.cmdline())
        victim.kill()
        assert proc.wait(timeout=40) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "config-api exited unexpectedly" in out.read_text()
    assert wait_gone(started) == []
    assert not (run_dir / "pgdata" / "postmaster.pid").exists()


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("CONFIG_API_PORT", "(config-api, CONFIG_API_PORT) is already in use"),
        ("KAFKA_PORT", "(embedded Kafka broker, KAFKA_PORT) is already in use"),
    ],
)
def test_taken_port_is_named_and_nothing_starts(tmp_path: Path, setting: str, expected: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = launcher_env(tmp_path / "run", **{setting: str(port)})
        done = subprocess.run(
            [sys.executable, str(LAUNCHER)], env=env, capture_output=True, timeout=60, check=False
        )
    assert done.returncode == 1
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"port {port} {expected}" in lines[0]
    assert not (tmp_path / "run").exists(), "nothing is started or written before the ports are checked"


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("DELIVERY_PARTITIONS", "lots"),
        ("CAREHOOKS_SERVICES", "config-api,mailer"),
        ("DISPATCHER_PORT", "70000"),
    ],
)
def test_bad_launcher_setting_is_named(tmp_path: Path, setting: str, value: str) -> None:
    env = launcher_env(tmp_path / "run", **{setting: value})
    done = subprocess.run(
        [sys.executable, str(LAUNCHER)], env=env, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert done.stderr.decode().startswith(f"make run: invalid setting {setting}:")


def test_readme_configuration_table_matches_the_settings_classes() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "deploy" / "local" / "settings_table.py"),
            "--check",
            str(REPO / "README.md"),
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


def test_services_die_with_a_sigkilled_parent() -> None:
    # A launcher killed with SIGKILL cannot tear down; PR_SET_PDEATHSIG makes the kernel do it.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from devstack.processes import ServiceSpec, spawn_service\n"
            "child = spawn_service(ServiceSpec('x', 'http.server', 'X_', 0), {}, None)\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
    )
    assert parent.stdout is not None
    child = psutil.Process(int(parent.stdout.readline()))
    assert child.is_running()
    parent.kill()
    parent.wait()
    try:
        assert wait_gone([child]) == []
    finally:
        with contextlib.suppress(psutil.Error):
            child.kill()


def test_a_broker_left_by_a_sigkilled_launcher_is_stopped_by_the_next_run(tmp_path: Path) -> None:
    from devstack.broker import start_broker

    sys.path.insert(0, str(LAUNCHER.parent))
    try:
        from infra import stop_stale_broker
    finally:
        sys.path.remove(str(LAUNCHER.parent))
    broker = start_broker(port=free_port(), log_path=tmp_path / "tansu.log")
    try:
        pid_file = tmp_path / "broker.pid"
        pid_file.write_text(f"{broker.process.pid}\n")
        assert stop_stale_broker(pid_file) == broker.process.pid
        assert broker.process.wait(timeout=5) is not None
        assert not pid_file.exists()
        # A pid file naming a process that is not the broker leaves that process alone.
        pid_file.write_text(f"{os.getpid()}\n")
        assert stop_stale_broker(pid_file) is None
    finally:
        broker.stop()
