"""A benchmark stopped from outside stops what it started (devstack.processes, bench/run_all.py).

Real processes throughout: a script that starts the embedded broker is sent SIGTERM; a child started
with ``die_with_parent`` outlives no SIGKILL of its parent; ``run_all`` asks a timed-out script to stop
before it kills it. Each case also runs the way it was before (SIGTERM's default action, no
``die_with_parent``), where the process is left behind, so the checks can fail.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
import run_all

BROKER_SCRIPT = """
import asyncio, sys
from devstack.broker import start_broker
from devstack.ports import free_port
from devstack.processes import interrupt_on_sigterm
from service_kit.runtime import run

if sys.argv[1] == "handled":
    interrupt_on_sigterm()

async def main() -> None:
    broker = start_broker(port=free_port())
    try:
        print(broker.process.pid, flush=True)
        await asyncio.sleep(120)
    finally:
        broker.stop()

run(main(), "uvloop")
"""

CHILD_SCRIPT = """
import subprocess, sys, time
from devstack.processes import die_with_parent

child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(120)"],
    preexec_fn=die_with_parent if sys.argv[1] == "tied" else None,
)
print(child.pid, flush=True)
time.sleep(120)
"""


def _gone(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _start(script: str, mode: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), mode], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip().isdigit(), f"the script printed {line!r}"
    return proc, int(line)


@pytest.mark.parametrize(("mode", "stopped"), [("handled", True), ("default", False)])
def test_sigterm_stops_the_broker_a_benchmark_started(mode: str, stopped: bool) -> None:
    proc, broker_pid = _start(BROKER_SCRIPT, mode)
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert _gone(broker_pid, 10 if stopped else 2) is stopped
    finally:
        proc.kill()
        _kill(broker_pid)


@pytest.mark.parametrize(("mode", "stopped"), [("tied", True), ("untied", False)])
def test_a_child_started_with_die_with_parent_dies_with_a_killed_parent(mode: str, stopped: bool) -> None:
    proc, child_pid = _start(CHILD_SCRIPT, mode)
    try:
        proc.kill()
        proc.wait(timeout=10)
        assert _gone(child_pid, 10 if stopped else 2) is stopped
    finally:
        _kill(child_pid)


def test_run_all_asks_a_timed_out_script_to_stop_before_killing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cleaned = tmp_path / "cleaned"
    (tmp_path / "slow_bench.py").write_text(
        textwrap.dedent(
            f"""
            import time
            from pathlib import Path
            from devstack.processes import interrupt_on_sigterm

            interrupt_on_sigterm()
            try:
                time.sleep(120)
            finally:
                Path({str(cleaned)!r}).write_text("stopped what it started")
            """
        )
    )
    monkeypatch.setattr(run_all, "BENCH", tmp_path)
    monkeypatch.setattr(run_all, "RESULTS", tmp_path / "results")
    (tmp_path / "results").mkdir()
    began = time.monotonic()
    outcome = run_all.run_script("slow_bench", [], timeout_s=3)
    assert outcome["status"] == "timeout after 3s"
    assert cleaned.read_text() == "stopped what it started"
    assert time.monotonic() - began < 30
