"""No import cycles between the modules of hitbox-core, except type-checking-only ones.

The graph is built from the source (no import runs): each module's imports at module level
-- in ``try``/``if``/``with``/class bodies too, but not inside functions nor under
``if TYPE_CHECKING:``. Importing ``a.b.c`` also runs the packages ``a`` and ``a.b``;
those count too, except the importing module's own packages, which are already being
imported when it runs (so a package ``__init__`` importing its own submodules is not a
cycle by itself; a submodule importing its package's face back is).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "hitbox-core" / "src"

KNOWN_CYCLES: list[set[str]] = []
"""Cycles tolerated for now (each with a comment saying why); none today."""


def _modules(src: Path, top: str) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package) for every module under ``src/top``."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in sorted((src / top).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        package = parts[-1] == "__init__"
        if package:
            parts.pop()
        found[".".join(parts)] = (path, package)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run when the module is imported."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _imports(node.body)
            yield from _imports(node.orelse)
        elif isinstance(node, ast.Try | ast.TryStar):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _imports(block)
            for handler in node.handlers:
                yield from _imports(handler.body)
        elif isinstance(node, ast.ClassDef | ast.With | ast.AsyncWith | ast.For | ast.While):
            yield from _imports(node.body)


def _reach(
    edges: set[str], modules: dict[str, tuple[Path, bool]], own: set[str], target: str, named: bool
) -> None:
    """Add what importing ``target`` runs: its packages (but the importer's own) and
    ``target`` itself (when ``named``, even if it is one of the importer's packages)."""
    parts = target.split(".")
    for i in range(1, len(parts)):
        prefix = ".".join(parts[:i])
        if prefix in modules and prefix not in own:
            edges.add(prefix)
    if target in modules and (named or target not in own):
        edges.add(target)


def _edges(name: str, modules: dict[str, tuple[Path, bool]]) -> set[str]:
    path, package = modules[name]
    here = name if package else name.rpartition(".")[0]
    own = {".".join(here.split(".")[:i]) for i in range(1, here.count(".") + 2)}
    edges: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                _reach(edges, modules, own, alias.name, named=True)
            continue
        if node.level:
            base = here.split(".")[: here.count(".") + 2 - node.level]
            origin = ".".join([*base, *([node.module] if node.module else [])])
        else:
            origin = node.module or ""
        submodules = [f"{origin}.{a.name}" for a in node.names if f"{origin}.{a.name}" in modules]
        for submodule in submodules:
            _reach(edges, modules, own, submodule, named=True)
        # ``from pkg import submodule`` only runs ``pkg``; ``from mod import name`` needs
        # ``mod`` itself, even when it is one of the importer's own packages.
        _reach(edges, modules, own, origin, named=len(submodules) < len(node.names))
    return edges - {name}


def import_graph(src: Path, top: str) -> dict[str, set[str]]:
    """Module -> the modules of the same tree its import runs (see the module docstring)."""
    modules = _modules(src, top)
    return {name: _edges(name, modules) for name in modules}


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _describe(graph: dict[str, set[str]], component: set[str]) -> str:
    return "; ".join(
        f"{name} -> {', '.join(sorted(graph[name] & component))}" for name in sorted(component)
    )


def test_hitbox_core_has_no_import_cycles() -> None:
    graph = import_graph(SRC, "hitbox")
    assert len(graph) > 40  # the scan sees the tree
    assert "hitbox.tiered._stack" in graph
    unexpected = [c for c in cycles(graph) if c not in KNOWN_CYCLES]
    assert not unexpected, "import cycles: " + " | ".join(_describe(graph, c) for c in unexpected)


def test_known_cycles_are_still_cycles() -> None:
    found = cycles(import_graph(SRC, "hitbox"))
    assert [known for known in KNOWN_CYCLES if known not in found] == []


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(  # a real cycle, one import hidden in a try block
            {
                "p/__init__.py": "",
                "p/a.py": "import p.b\n",
                "p/b.py": "try:\n    import p.a\nfinally:\n    pass\n",
            },
            [{"p.a", "p.b"}],
            id="cycle",
        ),
        pytest.param(
            {
                "p/__init__.py": "",
                "p/a.py": "from p.b import x\n",
                "p/b.py": "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from p.a import y\n"
                "def f():\n    from p.a import y\n",
            },
            [],
            id="type-checking-and-function-imports-do-not-count",
        ),
        pytest.param(
            {
                "p/__init__.py": "from p.a import x\nfrom p import b\n",
                "p/a.py": "from p.b import y\n",
                "p/b.py": "",
            },
            [],
            id="a-package-importing-its-submodules",
        ),
        pytest.param(  # the submodule imports its package's face back
            {"p/__init__.py": "from p.a import x\n", "p/a.py": "from p import y\n"},
            [{"p", "p.a"}],
            id="a-submodule-importing-its-package",
        ),
        pytest.param(  # importing q.m runs q/__init__, which imports p.a back
            {
                "p/__init__.py": "",
                "p/a.py": "from p.q.m import x\n",
                "p/q/__init__.py": "from p.a import y\n",
                "p/q/m.py": "",
            },
            [{"p.a", "p.q"}],
            id="through-another-package-init",
        ),
        pytest.param(
            {
                "p/__init__.py": "",
                "p/a.py": "from . import b\nfrom .b import x\n",
                "p/b.py": "from .a import y\n",
            },
            [{"p.a", "p.b"}],
            id="relative-imports",
        ),
    ],
)
def test_the_graph_finds_what_python_would_trip_on(
    tmp_path: Path, files: dict[str, str], expected: list[set[str]]
) -> None:
    assert cycles(import_graph(_tree(tmp_path, files), "p")) == expected
