"""Configuration: the model, URLs, errors naming field and value, and the plugin."""

from __future__ import annotations

import hitbox_memory.plugin
import pytest
from hitbox import Cache, ConfigError
from hitbox.plugins import PluginManager
from hitbox_memory import MemoryBackend, MemoryConfig

from tests.memory.conftest import value


def test_url_sets_every_field() -> None:
    config = MemoryConfig.from_url("memory://?max_entries=500&max_bytes=2MiB&policy=lru&mode=bytes")
    assert config.max_entries == 500
    assert config.max_bytes == 2 * 1024 * 1024
    assert config.policy == "lru"
    assert config.mode == "bytes"


def test_defaults() -> None:
    config = MemoryConfig.from_url("memory://")
    assert (config.max_entries, config.max_bytes, config.policy, config.mode) == (
        10_000,
        None,
        "tinylfu",
        "object",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1000", 1000), ("512KiB", 512 * 1024), ("64MB", 64 * 10**6), ("1.5GiB", 3 * 2**29)],
)
def test_max_bytes_units(text: str, expected: int) -> None:
    assert MemoryConfig.from_url(f"memory://?max_bytes={text}").max_bytes == expected


def test_none_lifts_the_entry_bound() -> None:
    config = MemoryConfig.from_url("memory://?max_entries=none&max_bytes=1MB")
    assert config.max_entries is None
    assert config.max_bytes == 10**6


@pytest.mark.parametrize(
    ("url", "field", "value"),
    [
        ("memory://?max_entries=abc", "max_entries", "abc"),
        ("memory://?max_entries=0", "max_entries", "0"),
        ("memory://?max_bytes=12XB", "max_bytes", "12XB"),
        ("memory://?policy=lfu", "policy", "lfu"),
        ("memory://?mode=pickle", "mode", "pickle"),
        ("memory://?colour=red", "colour", "red"),
        ("memory://?max_entries=none", "max_entries", "none"),
    ],
)
def test_bad_url_names_field_and_value(url: str, field: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        MemoryConfig.from_url(url)
    assert caught.value.field == field
    assert caught.value.value == value
    message = str(caught.value)
    assert "\n" not in message
    assert field in message
    assert repr(value) in message


def test_constructor_validates_like_the_config() -> None:
    with pytest.raises(ConfigError) as caught:
        MemoryBackend(max_entries=-5)
    assert caught.value.field == "max_entries"
    assert caught.value.value == -5
    with pytest.raises(ConfigError) as caught:
        MemoryBackend(max_entries=None, max_bytes=None)
    assert "bounded" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        MemoryBackend(signing_key=b"k" * 32)  # object mode keeps no bytes to sign
    assert caught.value.field == "mode"


def test_instance_traits() -> None:
    assert MemoryBackend(mode="object").stores_objects is True
    assert MemoryBackend(mode="bytes").stores_objects is False
    assert MemoryBackend.is_local is True


def _manager() -> PluginManager:
    manager = PluginManager(load_entry_points=False)
    manager.register(hitbox_memory.plugin, "memory")
    return manager


def test_plugin_registers_name_and_scheme() -> None:
    spec = _manager().backends.for_scheme("memory")
    assert spec.name == "memory"
    assert spec.config is MemoryConfig
    backend = spec.factory(MemoryConfig.from_url("memory://?max_entries=7&policy=lru"))
    assert isinstance(backend, MemoryBackend)
    assert backend.config.max_entries == 7
    assert backend.config.policy == "lru"


def test_plugin_is_discovered_through_entry_points() -> None:
    spec = PluginManager().backends.get("memory")
    assert spec.factory is hitbox_memory.plugin.create_backend


async def test_cache_from_url_builds_a_memory_backend() -> None:
    cache = Cache.from_url("memory://?max_entries=50&mode=bytes")
    async with cache:
        assert isinstance(cache.backend, MemoryBackend)
        assert cache.backend.config.max_entries == 50
        assert cache.backend.stores_objects is False


def test_cache_config_error_is_anchored_in_the_backend_section() -> None:
    with pytest.raises(ConfigError) as caught:
        Cache.from_url("memory://?max_entries=lots")
    assert caught.value.field == "backend.max_entries"
    assert caught.value.value == "lots"


async def test_bytes_mode_takes_the_signing_key_from_the_config() -> None:
    config = MemoryConfig.model_validate({"mode": "bytes", "signing_key": "s" * 32})
    backend = MemoryBackend.from_config(config)
    unsigned = MemoryBackend(mode="bytes")
    assert backend.codec is not None
    assert backend.codec.signed
    assert unsigned.codec is not None
    assert not unsigned.codec.signed
    assert MemoryBackend().codec is None
    await backend.set("k", value(), 60)
    stored = await backend.get("k")
    assert stored is not None
    assert stored.data == b"payload"
