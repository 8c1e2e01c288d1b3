"""The third-party example plugin: installed like any distribution, selected by name."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hitbox.config import resolve_backend
from hitbox.plugins import PluginManager
from hitbox.testing import BackendConformance
from hitbox_backend_example import ExampleBackend, ExampleConfig


# --8<-- [start:conformance]
class _FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class TestExampleConformance(BackendConformance):
    @pytest.fixture
    async def backend(self) -> AsyncIterator[ExampleBackend]:
        self.clock = _FakeClock()
        backend = ExampleBackend(ExampleConfig(max_entries=10_000), clock=self.clock)
        yield backend
        await backend.aclose()

    async def advance_time(self, seconds: float) -> None:
        self.clock.now += seconds


# --8<-- [end:conformance]


def test_selected_by_name_and_by_url() -> None:
    plugins = PluginManager()
    spec = plugins.backends.get("example")
    assert spec.origin.distribution == "hitbox-backend-example"
    by_name = resolve_backend({"name": "example", "max_entries": 5}, plugins)
    by_url = resolve_backend("example://?max_entries=5", plugins)
    assert isinstance(by_name, ExampleBackend)
    assert isinstance(by_url, ExampleBackend)
    assert by_name.label == "example"


def test_example_is_an_independent_distribution() -> None:
    """It lives outside the workspace and depends only on hitbox-core's public API."""
    import importlib.metadata
    import pathlib
    import re
    import tomllib

    root = pathlib.Path(__file__).resolve().parents[2]
    workspace = tomllib.loads((root / "pyproject.toml").read_text())
    assert "examples/hitbox-backend-example" not in workspace["tool"]["uv"]["workspace"]["members"]
    requires = importlib.metadata.requires("hitbox-backend-example") or []
    runtime = [r for r in requires if "extra ==" not in r]
    assert [re.split(r"[<>=!~ ;]", r)[0] for r in runtime] == ["hitbox-core"]
    test_extra = [r for r in requires if "extra ==" in r]
    assert [re.split(r"[<>=!~ ;]", r)[0] for r in test_extra] == ["hitbox-core[testing]"]
    source = root / "examples" / "hitbox-backend-example" / "src" / "hitbox_backend_example"
    lines = sum(len(p.read_text().splitlines()) for p in source.glob("*.py"))
    assert lines < 100
    for path in source.glob("*.py"):
        assert "hitbox._" not in path.read_text(), f"{path.name} imports a private module"
