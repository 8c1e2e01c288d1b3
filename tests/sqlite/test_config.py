"""SQLite configuration: URLs, validation errors, and discovery through the plugin."""

from __future__ import annotations

from pathlib import Path

import pytest
from hitbox import ConfigError
from hitbox.config import resolve_backend
from hitbox.plugins import PluginManager
from hitbox_sqlite import SQLiteBackend, SQLiteConfig


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///cache.db", "cache.db"),
        ("sqlite:///data/cache.db", "data/cache.db"),
        ("sqlite:////var/cache/app.db", "/var/cache/app.db"),
        ("sqlite:///with%20space.db", "with space.db"),
        ("sqlite://:memory:", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite://", ":memory:"),
    ],
)
def test_url_paths(url: str, path: str) -> None:
    assert SQLiteConfig.from_url(url).path == path


def test_url_query_sets_fields() -> None:
    config = SQLiteConfig.from_url(
        "sqlite:///c.db?max_entries=100&readers=2&busy_timeout=5&synchronous=full"
    )
    assert (config.max_entries, config.readers, config.busy_timeout) == (100, 2, 5.0)
    assert config.synchronous == "full"


def test_overrides_win_over_url() -> None:
    assert SQLiteConfig.from_url("sqlite:///c.db?readers=2", readers=8).readers == 8


@pytest.mark.parametrize(
    ("url", "field", "value"),
    [
        ("sqlite:///c.db?readers=0", "readers", "0"),
        ("sqlite:///c.db?max_entries=-5", "max_entries", "-5"),
        ("sqlite:///c.db?synchronous=sometimes", "synchronous", "sometimes"),
        ("sqlite:///c.db?colour=blue", "colour", "blue"),
        ("sqlite://somehost/c.db", "url", "sqlite://somehost/c.db"),
    ],
)
def test_bad_settings_name_field_and_value(url: str, field: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        SQLiteConfig.from_url(url)
    assert info.value.field == field
    assert info.value.value == value
    assert "\n" not in str(info.value)
    assert repr(value) in str(info.value)


def test_plugin_registers_name_and_scheme() -> None:
    backends = PluginManager().backends
    spec = backends.get("sqlite")
    assert spec.config is SQLiteConfig
    assert backends.for_scheme("sqlite") is spec
    assert spec.origin.distribution == "hitbox-backend-sqlite"


async def test_resolve_backend_from_url(tmp_path: Path) -> None:
    path = tmp_path / "resolved.db"
    backend = resolve_backend(f"sqlite:///{path}?max_entries=10", PluginManager())
    assert isinstance(backend, SQLiteBackend)
    assert backend.config.max_entries == 10
    assert backend.label == "sqlite"
    assert await backend.ping()
    await backend.aclose()
    assert path.exists()


async def test_resolve_backend_from_section_with_signing_key(tmp_path: Path) -> None:
    backend = resolve_backend(
        {"name": "sqlite", "path": str(tmp_path / "s.db")},
        PluginManager(),
        signing_key="a-secret-of-sixteen-bytes-or-more",
    )
    assert isinstance(backend, SQLiteBackend)
    assert backend.config.signing_key_bytes() == b"a-secret-of-sixteen-bytes-or-more"
    await backend.aclose()
