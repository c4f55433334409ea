"""Built-in plugins use only medrobust's public surface, and that surface resolves.

As the README says ("Writing a plugin", "Layout"), built-in plugins are written as a third party would,
using only medrobust's public surface. Every import of medrobust under ``plugins/``, at module
level or inside a function, must be ``import medrobust`` or
``from medrobust import NAME`` with ``NAME`` in ``medrobust.__all__``; so must every
``medrobust.NAME`` attribute and every ``importlib.import_module("medrobust...")``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import medrobust

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "plugins"
PLUGIN_FILES = sorted(PLUGINS.rglob("*.py"))


def _is_medrobust(module: str) -> bool:
    return module == "medrobust" or module.startswith("medrobust.")


def offending_imports(path: Path, root: Path = ROOT) -> list[str]:
    """``file:line: import`` for each import of medrobust in ``path`` that is not public."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    public = set(medrobust.__all__)
    where = path.relative_to(root)
    bad = []
    for node in ast.walk(tree):  # every node: module level, functions, classes, conditionals
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "medrobust"
                and node.attr not in public):
            bad.append(f"{where}:{node.lineno}: medrobust.{node.attr} ({node.attr!r} is not in medrobust.__all__)")
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str) and _is_medrobust(node.args[0].value)
              and node.args[0].value != "medrobust"):
            bad.append(f"{where}:{node.lineno}: {ast.unparse(node)} (a private module, imported by name)")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_medrobust(alias.name) and alias.name != "medrobust":
                    bad.append(f"{where}:{node.lineno}: import {alias.name} (import medrobust only)")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and _is_medrobust(node.module):
            if node.module != "medrobust":
                names = ", ".join(a.name for a in node.names)
                bad.append(f"{where}:{node.lineno}: from {node.module} import {names} "
                           f"(a private module: use `from medrobust import NAME`)")
                continue
            for alias in node.names:
                if alias.name not in public:
                    bad.append(f"{where}:{node.lineno}: from medrobust import {alias.name} "
                               f"({alias.name!r} is not in medrobust.__all__)")
    return bad


def test_plugins_are_found() -> None:
    assert len(PLUGIN_FILES) > 20 and PLUGINS / "imc" / "__init__.py" in PLUGIN_FILES


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: str(p.relative_to(PLUGINS)))
def test_plugin_imports_only_the_public_api(path: Path) -> None:
    bad = offending_imports(path)
    assert not bad, "private medrobust imports in a built-in plugin:\n" + "\n".join(bad)


def test_the_checker_catches_every_form(tmp_path: Path) -> None:
    source = ("import medrobust\n"
              "import medrobust.noise\n"
              "from medrobust import Sample, not_a_public_name\n"
              "from medrobust.noise.text import tokenize\n"
              "def f():\n"
              "    from medrobust.run.plugins import load_plugins\n"
              "    from . import sibling\n"
              "    return medrobust.Capabilities(), medrobust.contract\n"
              "importlib.import_module('medrobust.run.keyvalue')\n")
    probe = tmp_path / "probe.py"
    probe.write_text(source)
    bad = offending_imports(probe, root=tmp_path)
    assert sorted(int(b.split(":")[1]) for b in bad) == [2, 3, 4, 6, 8, 9]
    assert all(b.startswith("probe.py:") for b in bad)
    assert "not_a_public_name" in bad[1] and "medrobust.noise.text" in bad[2]


@pytest.mark.parametrize("name", medrobust.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(medrobust, name) is not None or name == "__version__"


def test_dir_lists_the_public_names() -> None:
    assert set(dir(medrobust)) >= set(medrobust.__all__)
