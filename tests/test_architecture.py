"""The package's shape: no import cycles, the core never reaches up into the certificate.

Every import is read from the source (module level and inside functions), so an
import moved into a function to dodge a cycle at load time still counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import medrobust

PACKAGE = Path(medrobust.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = ["medrobust", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> list[tuple[str, int, str]]:
    """(imported medrobust module, line, enclosing function or '') for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, int, str]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                for alias in child.names:  # `from pkg import submodule` imports the submodule
                    sub = f"{target}.{alias.name}"
                    found.append((sub if sub in MODULES else target, child.lineno, function))
            visit(child, inner)

    visit(tree, "")
    return [(m, line, f) for m, line, f in found if m in MODULES]


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in {m for m, _, _ in GRAPH[v]}:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or any(m == v for m, _, _ in GRAPH[v]):
                found.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            connect(v)
    return found


def test_the_walker_sees_imports_inside_functions():
    evaluate = {m for m, _, f in GRAPH["medrobust.run.context"] if f}
    assert "medrobust.run.evaluate" in evaluate  # imported inside RunContext._make_evaluator


def test_no_import_cycle_among_medrobusts_modules():
    cycles = _cycles()
    assert not cycles, "import cycles (module level and inside functions):\n" + "\n".join(
        " <-> ".join(c) for c in cycles)


FRONT_ENDS = {"medrobust.cli": None, "medrobust.pytest_plugin": "pytest_sessionfinish"}
"""Who may import the certificate package: the command line, and the pytest plugin at the session's end."""


def test_the_core_imports_the_certificate_only_at_the_sessions_end():
    offenders = []
    for name, imports in GRAPH.items():
        if name.startswith("medrobust.certificate"):
            continue
        for target, line, function in imports:
            if not target.startswith("medrobust.certificate"):
                continue
            allowed = name in FRONT_ENDS and FRONT_ENDS[name] in (None, function)
            if not allowed:
                offenders.append(f"{name}:{line} ({function or 'module level'}) imports {target}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("leaf", ["medrobust._canonical", "medrobust._format", "medrobust.errors",
                                  "medrobust.run.records"])
def test_the_leaves_import_nothing_of_medrobusts(leaf):
    assert GRAPH[leaf] == []


def test_public_modules_are_few_and_the_rest_is_internal():
    top = sorted(n for n in MODULES if n.count(".") == 1)
    public = [n for n in top if not n.rpartition(".")[2].startswith("_")]
    assert public == ["medrobust.builtins", "medrobust.certificate", "medrobust.cli", "medrobust.contract",
                      "medrobust.data", "medrobust.errors", "medrobust.hookspecs", "medrobust.noise",
                      "medrobust.pytest_plugin", "medrobust.run", "medrobust.sample", "medrobust.strategies"]


PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
PLUGIN_MODULES = {f"medrobust_plugins.{p.relative_to(PLUGINS)}": p for p in sorted(PLUGINS.rglob("*.py"))}


def test_no_module_is_longer_than_400_lines_of_code():
    """Modules of one job, the built-in plugins' too; data tables (mostly literals) are exempt."""
    long = []
    for name, path in {**MODULES, **PLUGIN_MODULES}.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > 420 and not name.endswith(("_assets", "_text_data", "_tables")):
            long.append(f"{name}: {len(lines)} lines")
    assert not long, "\n".join(long)
