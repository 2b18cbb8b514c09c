"""The house rules of the layout, checked over every product module in ``services/`` and ``libs/``.

- no import cycle between modules (function-local imports count: deferring an import hides a
  cycle from the interpreter, not from the reader);
- no service imports another service; libraries import no service;
- the deliveries wing of the config API reaches the webhooks wing only through
  ``config_api.webhooks.access``;
- no product module over 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("config_api", "dispatcher", "delivery_worker", "dlq_replayer")
MAX_LINES = 400


def _package_roots() -> dict[str, Path]:
    roots: dict[str, Path] = {}
    for group in ("libs", "services"):
        for project in sorted((REPO / group).iterdir()):
            for pkg in project.iterdir():
                if pkg.is_dir() and (pkg / "__init__.py").exists():
                    roots[pkg.name] = pkg
    return roots


ROOTS = _package_roots()


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for root in ROOTS.values():
        for path in root.rglob("*.py"):
            if "vendor" in path.parts:
                continue
            rel = path.relative_to(root.parent).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The longest known module that ``name`` names or lives in."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                drop = node.level - 1 if is_package else node.level
                anchor = anchor[: len(anchor) - drop] if drop else anchor
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] or [base]
        for name in names:
            resolved = _resolve(name)
            if resolved is not None and resolved != module:
                targets.add(resolved)
    return targets


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _top(module: str) -> str:
    return module.split(".")[0]


def test_the_checker_sees_the_packages() -> None:
    assert set(SERVICES) <= set(ROOTS), sorted(ROOTS)
    assert {"contracts", "service_kit", "webhook_core"} <= set(ROOTS)
    assert GRAPH["config_api.app"], "the import graph of config_api.app is empty: the parser is broken"


def test_no_import_cycle() -> None:
    # Tarjan's strongly connected components; any component of more than one module is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in GRAPH[node]:
            # A package's __init__ importing its own submodules is not a cycle of logic.
            if nxt.startswith(node + "."):
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"


def test_services_and_libs_keep_their_distance() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if _top(target) in SERVICES and _top(target) != _top(module)
    ]
    assert not wrong, wrong


def test_deliveries_reach_webhooks_only_through_access() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.startswith("config_api.deliveries")
        for target in targets
        if target.startswith("config_api.webhooks") and target != "config_api.webhooks.access"
    ]
    assert not wrong, wrong


@pytest.mark.parametrize("module", sorted(MODULES))
def test_product_modules_stay_small(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module].relative_to(REPO)} has {lines} lines (limit {MAX_LINES})"
