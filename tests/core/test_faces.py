"""The three public faces — ``hitbox`` (users), ``hitbox.backend`` (backend authors) and
``hitbox.engine`` (protocol layers) — and the rule that nothing outside hitbox-core reaches
into the core's private modules, nor into another library's except in one known place."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
FACES = ["hitbox", "hitbox.backend", "hitbox.engine"]

PRIVATE_CORE_IMPORT = re.compile(
    r"^\s*(?:from|import)\s+hitbox(?:\.[A-Za-z0-9_]+)*\._", re.MULTILINE
)
"""``import hitbox._x``, ``from hitbox.engine._machine import ...``: a private core module."""

FOREIGN_PRIVATE_IMPORT = re.compile(
    r"^\s*(?:from|import)\s+((?!hitbox)[A-Za-z0-9_]+)(?:\.[A-Za-z0-9_]+)*\._", re.MULTILINE
)
"""A private module of another library (``from redis._parsers import ...``)."""

FOREIGN_INTERNALS_ALLOWED = {
    # The Redis lean read path: checks redis-py's internals at import and falls back to
    # its public path (tests/redis/test_direct_path.py proves the fallback).
    Path("hitbox-backend-redis/src/hitbox_redis/_connection.py"),
}


def _face(name: str) -> ModuleType:
    return importlib.import_module(name)


def _sources_outside_core() -> list[Path]:
    trees = [p for p in ROOT.glob("*/src") if p.parent.name != "hitbox-core"]
    trees.append(ROOT / "examples")
    files = [f for tree in trees for f in tree.rglob("*.py")]
    assert len(files) > 50  # the scan sees the distributions and the examples
    return sorted(files)


@pytest.mark.parametrize("name", FACES)
def test_each_face_has_a_sorted_unique_all(name: str) -> None:
    face = _face(name)
    assert list(face.__all__) == sorted(set(face.__all__))


@pytest.mark.parametrize("name", FACES)
def test_every_name_of_a_face_exists_and_is_documented(name: str) -> None:
    face = _face(name)
    for exported in face.__all__:
        obj = getattr(face, exported)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{name}.{exported} has no docstring"


@pytest.mark.parametrize("name", ["hitbox.backend", "hitbox.engine"])
def test_no_public_name_of_a_face_is_left_out(name: str) -> None:
    face = _face(name)
    public = {
        attr
        for attr, obj in vars(face).items()
        if not attr.startswith("_") and not inspect.ismodule(obj)
    }
    assert public <= set(face.__all__), (
        f"in {name} but not in __all__: {public - set(face.__all__)}"
    )


def test_the_backend_face_has_what_a_backend_author_needs() -> None:
    import hitbox.backend as backend_face

    needed = {
        "Backend",
        "BackendConfig",
        "BackendRegistry",
        "BatchBackend",
        "CachedValue",
        "Codec",
        "CorruptEntry",
        "Deadlines",
        "EnvelopeCodec",
        "Healthcheck",
        "LockingBackend",
        "NO_VALUE",
        "RateLimitedLogger",
        "emit_backend_event",
        "hookimpl",
    }
    assert needed <= set(backend_face.__all__)


def test_the_engine_face_has_what_a_protocol_layer_needs() -> None:
    import hitbox.engine as engine_face

    needed = {"Adopt", "Call", "Counters", "Engine", "Flight", "Guard", "Io", "REFUSED", "State"}
    assert needed <= set(engine_face.__all__)


def test_no_distribution_but_the_core_imports_private_core_modules() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
        for path in _sources_outside_core()
        for match in PRIVATE_CORE_IMPORT.finditer(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_another_librarys_private_modules_are_used_in_one_known_place_only() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(0).strip()}"
        for path in _sources_outside_core() + sorted((ROOT / "hitbox-core/src").rglob("*.py"))
        for match in FOREIGN_PRIVATE_IMPORT.finditer(path.read_text(encoding="utf-8"))
        if path.relative_to(ROOT) not in FOREIGN_INTERNALS_ALLOWED
    ]
    assert offenders == []


def test_the_scan_catches_what_it_looks_for() -> None:
    assert PRIVATE_CORE_IMPORT.search("from hitbox._machine import Machine")
    assert PRIVATE_CORE_IMPORT.search("    from hitbox.engine._guard import Guard")
    assert PRIVATE_CORE_IMPORT.search("import hitbox._stats")
    assert not PRIVATE_CORE_IMPORT.search("from hitbox.engine import Engine")
    assert not PRIVATE_CORE_IMPORT.search("from hitbox_redis._config import RedisConfig")
    assert FOREIGN_PRIVATE_IMPORT.search("from redis._parsers.encoders import Encoder")
    assert not FOREIGN_PRIVATE_IMPORT.search("from hitbox_http._spec import Hit")
