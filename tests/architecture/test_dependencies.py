"""Every package declares exactly the distributions its product code imports (issue: config_api used
aiohttp without declaring it). Workspace members count by their project name; the standard library and
the package's own modules are ignored."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import distribution, packages_distributions
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROJECTS = sorted(
    p.parent for p in [*REPO.glob("libs/*/pyproject.toml"), *REPO.glob("services/*/pyproject.toml")]
)
DISTRIBUTIONS = packages_distributions()
WORKSPACE = {p.name: tomllib.loads((p / "pyproject.toml").read_text())["project"]["name"] for p in PROJECTS}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(project: Path) -> set[str]:
    doc = tomllib.loads((project / "pyproject.toml").read_text())
    return {
        _normalise(re.split(r"[<>=!~;\[ ]", dep, maxsplit=1)[0])
        for dep in doc["project"].get("dependencies", [])
    }


def _imported(project: Path) -> set[str]:
    names: set[str] = set()
    for path in project.rglob("*.py"):
        if "vendor" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
                names |= {f"{node.module}.{alias.name}" for alias in node.names}
    own = {p.name for p in project.iterdir() if p.is_dir()}
    out: set[str] = set()
    for module in names:
        name = module.split(".")[0]
        if name in own or name in sys.stdlib_module_names or name == "__future__":
            continue
        if name in WORKSPACE:
            out.add(_normalise(WORKSPACE[name]))
        else:
            out |= {_normalise(d) for d in _distributions_of(module)}
    return out


def _distributions_of(module: str) -> list[str]:
    """The distributions that provide ``module``; for a namespace package shared by several
    distributions (``opentelemetry``), the one whose files hold the imported module itself."""
    top = module.split(".")[0]
    candidates = DISTRIBUTIONS.get(top, [top])
    if len(candidates) < 2:
        return candidates
    path = module.replace(".", "/")
    wanted = {f"{path}.py", f"{path}/__init__.py"}
    # The distribution holding the module (a name imported from a module, or the shared namespace
    # directory itself, is held by none: its module or submodules account for it).
    return [d for d in candidates if any(str(f) in wanted for f in distribution(d).files or ())]


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_imports_are_declared(project: Path) -> None:
    missing = _imported(project) - _declared(project)
    assert not missing, f"{project.relative_to(REPO)} imports {sorted(missing)} without declaring them"
