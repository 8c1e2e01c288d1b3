"""Each module owns its state: none reads another's private names.

The scan covers every distribution's ``src`` tree (hitbox-core, the backends, hitbox-http,
hitbox-observability) and the example backend. A module may use an underscore attribute
only on ``self``/``cls`` or when it defines that name itself (a class of its own, an
attribute it assigns); it may import another module's private *modules*
(``from hitbox.tiered import _batch``) but not private names from them. What two modules
share is public within the package (the tiered backend's ``TierStack``). The standard
library's public underscore names are the exceptions: named tuples' ``_replace``,
``_asdict``, ... (``urllib.parse.SplitResult._replace``) and ``os._exit`` (how a forked
child ends without running its parent's exit handlers).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "hitbox-core" / "src"
SOURCE_TREES = sorted([*ROOT.glob("*/src"), *ROOT.glob("examples/*/src")])
"""Every distribution's ``src`` tree and the examples'."""

NAMED_TUPLE_API = frozenset({"_asdict", "_field_defaults", "_fields", "_make", "_replace"})
"""Underscore names that are public API of :func:`collections.namedtuple` classes."""
STDLIB_API = frozenset({"os._exit"})
"""Other underscore names the standard library documents as public."""


def _defined(tree: ast.Module) -> set[str]:
    """Names the module defines: functions, classes, assigned names and attributes, slots."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}:
                names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # ``__slots__`` entries
    return names


def reaches(path: Path, *srcs: Path) -> list[str]:
    """Where ``path`` reads a private name that another module owns (``srcs``: the trees
    its imports resolve in, to tell a private module from a private name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    defined = _defined(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            name = node.attr
            if not name.startswith("_") or name.startswith("__") or name in defined:
                continue
            if name in NAMED_TUPLE_API or ast.unparse(node) in STDLIB_API:
                continue
            if isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}:
                continue
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            folders = [src.joinpath(*node.module.split(".")) for src in srcs]
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                is_module = any(
                    (folder / f"{alias.name}.py").exists() or (folder / alias.name).is_dir()
                    for folder in folders
                )
                if private and not is_module:
                    found.append(
                        f"{path.name}:{node.lineno}: from {node.module} import {alias.name}"
                    )
    return found


def test_no_core_module_reads_another_modules_private_names() -> None:
    files = sorted((SRC / "hitbox").rglob("*.py"))
    assert any(f.name == "_stack.py" for f in files)  # the scan sees the tiered package
    assert [hit for f in files for hit in reaches(f, SRC)] == []


@pytest.mark.parametrize("src", SOURCE_TREES, ids=lambda src: src.parent.name)
def test_no_module_of_any_distribution_reads_another_modules_private_names(src: Path) -> None:
    files = sorted(src.rglob("*.py"))
    assert files
    hits = [f"{f.relative_to(src)}: {hit}" for f in files for hit in reaches(f, *SOURCE_TREES)]
    assert hits == []


def test_every_distribution_is_scanned() -> None:
    names = {src.parent.name for src in SOURCE_TREES}
    assert {"hitbox-core", "hitbox-http", "hitbox-backend-redis", "hitbox-backend-sqlite"} <= names
    assert "hitbox-backend-example" in names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("def f(backend):\n    return backend._watcher\n", ["m.py:2: backend._watcher"]),
        (
            "from hitbox.serializers import _restore\n",
            ["m.py:1: from hitbox.serializers import _restore"],
        ),
        (
            "class A:\n    def __init__(self):\n        self._x = 1\n    def same(self, other):\n"
            "        return other._x\n",
            [],
        ),
        ("from hitbox.tiered import _batch\n", []),
        ("def f(self):\n    return self._mine\n", []),
        ("def f(parts):\n    return parts._replace(path='/')\n", []),
    ],
    ids=[
        "foreign-attribute",
        "foreign-private-import",
        "own-class",
        "private-module",
        "self",
        "named-tuple-api",
    ],
)
def test_the_scan_tells_owned_from_foreign(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = tmp_path / "m.py"
    path.write_text(text)
    assert reaches(path, SRC) == expected
