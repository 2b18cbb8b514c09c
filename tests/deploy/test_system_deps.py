"""``make system-deps`` (deploy/local/system_deps.py): its decisions, and that it covers every system
tool the tests look up, so a test needing a new tool cannot be added without installing it there."""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "local" / "system_deps.py"
VENV_BIN = Path(sys.executable).parent

# How the tests name a system tool: shutil.which("x"), an absolute "/usr/bin/x" path, or a literal
# command as the first argument of a subprocess call.
TOOL_PATTERNS = (
    re.compile(r"""shutil\.which\(\s*["']([^"']+)["']"""),
    re.compile(r"""["'](/(?:usr/)?(?:local/)?s?bin/[\w.+-]+|/usr/lib/[\w.+-]+|/opt/[\w.+-]+)["']"""),
    re.compile(
        r"""(?:subprocess\.(?:run|Popen|call|check_call|check_output)|create_subprocess_exec)"""
        r"""\(\s*\[?\s*["']([\w.+-]+)["']"""
    ),
)


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("system_deps", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["system_deps"] = module
    spec.loader.exec_module(module)
    return module


deps = load_script()


def tools_named_in(text: str) -> set[str]:
    """The system tools a test source looks up: commands, or absolute paths (or their folders)."""
    return {m.group(1) for pattern in TOOL_PATTERNS for m in pattern.finditer(text)}


def covered(tool: str, listed: list[str]) -> bool:
    """A command is covered by the same command or a path ending in it; a path by the same path, a
    pattern matching it, or a listed path inside it (a test that globs a folder for the tool)."""
    if "/" not in tool:
        return any(Path(item).name == tool for item in listed)
    return any(
        item == tool or fnmatch.fnmatch(tool, item) or item.startswith(tool + "/") or item == Path(tool).name
        for item in listed
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('PROMTOOL = shutil.which("promtool")', {"promtool"}),
        ('CHROMIUM = Path("/usr/bin/chromium")', {"/usr/bin/chromium"}),
        ('Path("/usr/lib/postgresql").glob("*/bin/postgres")', {"/usr/lib/postgresql"}),
        ('env["PATH"] = "/usr/bin:/bin"', set()),
        ("subprocess.run(['kubectl', 'kustomize', path])", {"kubectl"}),
        ('await asyncio.create_subprocess_exec("example-tool", conf)', {"example-tool"}),
        ("subprocess.Popen([sys.executable, '-m', 'dispatcher'])", set()),
        ("shutil.which(name)", set()),
    ],
)
def test_the_scan_finds_tools_however_a_test_names_them(source: str, expected: set[str]) -> None:
    assert tools_named_in(source) == expected


def test_every_system_tool_the_tests_use_is_installed_by_make_system_deps() -> None:
    listed = subprocess.run(
        [sys.executable, str(SCRIPT), "--list"], capture_output=True, text=True, check=True
    ).stdout
    tools = [line.split("\t")[0] for line in listed.splitlines()]
    used: dict[str, set[str]] = {}
    for path in (REPO / "tests").rglob("*.py"):
        if path.resolve() == Path(__file__).resolve():
            continue  # this file's examples are not lookups
        for tool in tools_named_in(path.read_text(encoding="utf-8")):
            used.setdefault(tool, set()).add(str(path.relative_to(REPO)))
    # Tools in .venv/bin come from the Python dependencies (make install), not from the system.
    uncovered = {
        tool: sorted(files)
        for tool, files in used.items()
        if not covered(tool, tools) and not (VENV_BIN / Path(tool).name).exists()
    }
    assert not uncovered, (
        f"tests use system tools that `make system-deps` does not install: {uncovered}; "
        "add them to REQUIREMENTS in deploy/local/system_deps.py"
    )
    assert "/usr/bin/chromium" in used, (
        "the scan no longer finds the browser tests' Chromium: is it still working?"
    )


CHROMIUM = deps.Requirement("/usr/bin/chromium", "chromium", "browser tests")
PROMTOOL = deps.Requirement("promtool", "prometheus", "rule tests")
KUBECTL = deps.Requirement("kubectl", None, "manifests", hint="install kubectl from kubernetes.io")


@pytest.mark.parametrize(
    ("absent", "can_install", "check_only", "install", "report_starts"),
    [
        ([], True, False, (), []),
        ([CHROMIUM, PROMTOOL], True, False, ("chromium", "prometheus"), []),
        ([CHROMIUM, KUBECTL], True, False, ("chromium",), ["missing kubectl (manifests): install kubectl"]),
        (
            [CHROMIUM, PROMTOOL],
            False,
            False,
            (),
            [
                "missing /usr/bin/chromium (browser tests): install it: apt-get install -y chromium",
                "missing promtool (rule tests): install it: apt-get install -y prometheus",
            ],
        ),
        (
            [PROMTOOL],
            True,
            True,
            (),
            ["missing promtool (rule tests): run `make system-deps` as root: apt-get install -y prometheus"],
        ),
        ([KUBECTL], False, False, (), ["missing kubectl (manifests): install kubectl"]),
    ],
)
def test_plan_installs_as_root_and_otherwise_says_what_to_install(
    absent: list[object],
    can_install: bool,
    check_only: bool,
    install: tuple[str, ...],
    report_starts: list[str],
) -> None:
    result = deps.plan(absent, can_install=can_install, check_only=check_only)
    assert result.install == install
    assert len(result.report) == len(report_starts)
    for line, start in zip(result.report, report_starts, strict=True):
        assert line.startswith(start), line


def test_kubectl_is_never_installed_from_debian() -> None:
    kubectl = [req for req in deps.REQUIREMENTS if req.tool == "kubectl"]
    assert kubectl and kubectl[0].package is None
    assert "kubernetes-client" in kubectl[0].hint


@pytest.mark.parametrize(
    ("tool", "listed", "expected"),
    [
        ("promtool", ["promtool"], True),
        ("promtool", ["/usr/bin/promtool"], True),
        ("/usr/bin/promtool", ["promtool"], True),
        ("/usr/bin/chromium", ["/usr/bin/chromium"], True),
        ("/usr/lib/postgresql", ["/usr/lib/postgresql/*/bin/postgres"], True),
        ("/usr/lib/postgresql/15/bin/postgres", ["/usr/lib/postgresql/*/bin/postgres"], True),
        ("example-tool", ["promtool", "/usr/bin/chromium"], False),
        ("/usr/lib/jvm", ["/usr/lib/postgresql/*/bin/postgres"], False),
    ],
)
def test_coverage_of_a_tool(tool: str, listed: list[str], expected: bool) -> None:
    assert covered(tool, listed) is expected


def test_missing_uses_the_lookup_given() -> None:
    assert deps.missing([CHROMIUM, PROMTOOL, KUBECTL], lambda tool: tool == "promtool") == [CHROMIUM, KUBECTL]


def test_check_mode_finds_everything_after_make_system_deps() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), (
        "system tools the suite needs are missing (make test installs them first): " + done.stderr
    )


def test_ci_runs_only_what_the_readme_tells_a_user() -> None:
    """CI takes the newcomer's path: no installation of its own, only documented make targets."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = [
        line.strip()
        for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#") and not line.startswith(("set ", "cd "))
    ]
    assert commands, ".ci/run runs nothing"
    for command in commands:
        assert re.fullmatch(r"make [a-z-]+", command), f".ci/run: {command!r} is not a documented make target"
        assert f"`{command}`" in readme, (
            f".ci/run runs {command!r}, which the README does not tell a user to run"
        )
    assert "make test" in commands
