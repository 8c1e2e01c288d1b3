"""Each module of hitbox-core owns its state: none reads another's private names.

A module may use an underscore attribute only on ``self``/``cls`` or when it defines that
name itself (a class of its own, an attribute it assigns); it may import another module's
private *modules* (``from hitbox.tiered import _batch``) but not private names from them.
What two modules share is public within the package (the tiered backend's ``TierStack``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "hitbox-core" / "src"


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


def reaches(path: Path, src: Path) -> list[str]:
    """Where ``path`` reads a private name that another module owns."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    defined = _defined(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            name = node.attr
            if not name.startswith("_") or name.startswith("__") or name in defined:
                continue
            if isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}:
                continue
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            folder = src.joinpath(*node.module.split("."))
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                is_module = (folder / f"{alias.name}.py").exists() or (folder / alias.name).is_dir()
                if private and not is_module:
                    found.append(
                        f"{path.name}:{node.lineno}: from {node.module} import {alias.name}"
                    )
    return found


def test_no_core_module_reads_another_modules_private_names() -> None:
    files = sorted((SRC / "hitbox").rglob("*.py"))
    assert any(f.name == "_stack.py" for f in files)  # the scan sees the tiered package
    assert [hit for f in files for hit in reaches(f, SRC)] == []


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
    ],
    ids=["foreign-attribute", "foreign-private-import", "own-class", "private-module", "self"],
)
def test_the_scan_tells_owned_from_foreign(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = tmp_path / "m.py"
    path.write_text(text)
    assert reaches(path, SRC) == expected
