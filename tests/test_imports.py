"""Import structure: every module imports on its own and in any order, and no two modules import each other.

Two guards against import circles coming back:

* dynamic: each module of ``mlbench`` is imported in a fresh interpreter, alone and in a few seeded
  random orders (a circle often shows only when one of its modules is imported first);
* static: the import statements of every module (module level, inside functions, and those under
  ``if TYPE_CHECKING:``) form a graph of ``mlbench`` modules that must have no cycle. A lazy import
  inside a function does not fail at import time, and a type-only import never runs, but each
  still ties the two modules into one room.
"""

from __future__ import annotations

import ast
import itertools
import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import mlbench

PACKAGE_DIR = Path(mlbench.__file__).resolve().parent
SOURCE_ROOT = PACKAGE_DIR.parent


def module_files(package_dir: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is_package), for every ``.py`` file under ``package_dir``."""
    out = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_package)
    return out


def import_edges(package_dir: Path) -> dict[str, dict[str, int]]:
    """Module -> {imported module of the same package: line of the first such import}.

    ``import a.b`` and ``from a.b import c`` name ``a.b``; ``from a import b`` names the submodule
    ``a.b`` when there is one, else ``a`` (a name from the package ``__init__``). Importing
    ``a.b`` also runs ``a/__init__.py`` first, but that implicit parent import is not an edge: a
    circle through it would need ``a/__init__.py`` itself to import ``a.b``, which is an edge.
    """
    modules = module_files(package_dir)
    return {
        name: _imports_of(name, path, is_package, modules, package_dir.name)
        for name, (path, is_package) in modules.items()
    }


def _imports_of(name: str, path: Path, is_package: bool, modules: dict, top: str) -> dict[str, int]:
    found: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        if target in modules and target != name:
            found.setdefault(target, line)

    def visit(node: ast.AST) -> None:
        # `if TYPE_CHECKING:` blocks are visited like any other: a type-only import that closes a
        # loop is a loop between the two rooms all the same
        for child in ast.iter_child_nodes(node):
            visit_node(child)

    def visit_node(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's package, one level up per extra dot
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target == top or target.startswith(top + "."):
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    add(sub if sub in modules else target, node.lineno)
        visit(node)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return found


def import_cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules, as ``[a, b, ..., a]``.

    Tarjan's algorithm finds the groups; within each, a breadth-first search from its first module
    back to itself gives a shortest cycle to show.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(v: str) -> None:  # recursive: the graph is a few dozen modules
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(edges):
        if v not in index:
            connect(v)
    cycles = []
    for group in groups:
        start = min(group)
        paths = {start: [start]}
        queue = [start]
        while queue:
            v = queue.pop(0)
            for w in sorted(edges[v]):
                if w == start:
                    cycles.append([*paths[v], start])
                    queue = []
                    break
                if w in group and w not in paths:
                    paths[w] = [*paths[v], w]
                    queue.append(w)
    return sorted(cycles)


def _describe(cycle: list[str], edges: dict[str, dict[str, int]]) -> str:
    files = module_files(PACKAGE_DIR)
    steps = [
        f"{a} ({files[a][0].relative_to(SOURCE_ROOT)}:{edges[a][b]}) imports {b}"
        for a, b in itertools.pairwise(cycle)
    ]
    return " -> ".join(cycle) + "\n    " + "\n    ".join(steps)


# -- static ---------------------------------------------------------------------------------------


def test_no_import_cycles_between_modules() -> None:
    edges = import_edges(PACKAGE_DIR)
    cycles = import_cycles(edges)
    assert not cycles, "import cycles (move the shared part to a module both can import):\n" + "\n".join(
        _describe(c, edges) for c in cycles
    )


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_cycle_check_sees_lazy_and_package_init_imports(tmp_path: Path) -> None:
    package = _write(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.sub import thing\n",
            "pkg/sub/__init__.py": "from pkg.sub.leaf import thing\n",
            # a submodule importing a name from its own package's __init__, which imports it back
            "pkg/sub/leaf.py": "from pkg.sub import other\nthing = 1\n",
            # a lazy import inside a function is still an edge
            "pkg/a.py": "def f():\n    from pkg import b\n",
            "pkg/b.py": "from . import a\n",
            # a TYPE_CHECKING import (annotations only) is an edge too, and so is its `else:`
            "pkg/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import d\n"
            "else:\n    from pkg import e\n",
            "pkg/d.py": "import pkg.c\n",
            "pkg/e.py": "x = 1\n",
        },
    )
    edges = import_edges(package)
    assert edges["pkg.c"] == {"pkg.d": 3, "pkg.e": 5}
    assert edges["pkg"] == {"pkg.sub": 1}  # `from pkg.sub import thing`: thing is not a module
    assert "pkg" not in edges["pkg.sub.leaf"]  # no edge for the implicit parent import
    assert import_cycles(edges) == [
        ["pkg.a", "pkg.b", "pkg.a"],
        ["pkg.c", "pkg.d", "pkg.c"],  # closed by a type-only import
        ["pkg.sub", "pkg.sub.leaf", "pkg.sub"],
    ]


# -- dynamic --------------------------------------------------------------------------------------

_IMPORT_ALL = """
import importlib, sys, traceback
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:
        traceback.print_exc()
        sys.exit(f"importing {name} failed (order: {' '.join(sys.argv[1:])})")
"""


def _python(*modules: str) -> subprocess.CompletedProcess[str]:
    # the checkout under test first on the path, also when pytest was started without PYTHONPATH
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SOURCE_ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL, *modules], capture_output=True, text=True, env=env, timeout=300
    )


MODULES = sorted(module_files(PACKAGE_DIR))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_module_imports_in_a_random_order(seed: int) -> None:
    order = list(MODULES)
    random.Random(seed).shuffle(order)
    result = _python(*order)
    assert result.returncode == 0, result.stderr


def test_every_module_imports_alone() -> None:
    # one fresh interpreter per module, two at a time (most import in a fraction of a second)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(MODULES, pool.map(_python, MODULES), strict=True))
    failed = {name: r.stderr[-2000:] for name, r in results.items() if r.returncode != 0}
    assert not failed, failed


def test_preloaded_module_names_exist() -> None:
    # the fork server skips a preload name it cannot import, so a moved module would go unnoticed
    from mlbench.execution.local import PRELOAD

    ours = [name for name in PRELOAD if name.startswith("mlbench.")]
    assert ours
    assert not [name for name in ours if name not in MODULES]


def test_importing_and_parsing_a_suite_touches_no_executor() -> None:
    # parsing is pure: no executor module (nor the GPU probe that lives with them) is imported,
    # whatever the suite asks of the machine
    code = (
        "import sys, mlbench.suite\n"
        "before = sorted(m for m in sys.modules if m.startswith('mlbench.execution'))\n"
        "s = mlbench.suite.parse_suite('datasets: [iris]\\nmodels: [knn, xgboost]\\n"
        "executor: {gpus: 2, kind: dask}\\nplugins: [absent_plugin.py]\\n')\n"
        "s.expand()\n"
        "after = sorted(m for m in sys.modules if m.startswith('mlbench.execution'))\n"
        "print(before, after)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SOURCE_ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "[]"]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_imports(package_dir: Path) -> list[str]:
    """Uses of another package module's private names, one line each.

    ``from mlbench.x import _name``, and ``m._name`` where ``m`` is a module of the package bound
    by ``import mlbench.x as m`` or ``from mlbench import x``.
    """
    modules = module_files(package_dir)
    top = package_dir.name
    found = []
    for name, (path, _) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        rel = path.relative_to(package_dir.parent)
        bound: dict[str, str] = {}  # local name -> another module of the package
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name in modules and alias.name != name:
                        bound[alias.asname] = alias.name
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            if not (node.module == top or node.module.startswith(top + ".")) or node.module == name:
                continue
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"{rel}:{node.lineno}: from {node.module} import {alias.name}")
                elif f"{node.module}.{alias.name}" in modules and f"{node.module}.{alias.name}" != name:
                    bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
                and _private(node.attr)
            ):
                found.append(f"{rel}:{node.lineno}: {bound[node.value.id]}.{node.attr}")
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    # what two modules share is public in its home; a private name is free to change
    found = private_imports(PACKAGE_DIR)
    assert not found, "make these public where they live:\n" + "\n".join(found)
