"""Memcached configuration: server lists, URLs, validation errors, plugin discovery."""

from __future__ import annotations

import pytest
from hitbox import ConfigError
from hitbox.config import resolve_backend
from hitbox.plugins import PluginManager
from hitbox_memcached import MemcachedBackend, MemcachedConfig
from hitbox_memcached._config import parse_server


@pytest.mark.parametrize(
    ("server", "parsed"),
    [
        ("10.0.0.1:11212", ("10.0.0.1", 11212)),
        ("cache.local", ("cache.local", 11211)),
        ("[::1]:11213", ("::1", 11213)),
        ("[::1]", ("::1", 11211)),
    ],
)
def test_parse_server(server: str, parsed: tuple[str, int]) -> None:
    assert parse_server(server) == parsed


def test_url_lists_every_server_and_query_fields() -> None:
    config = MemcachedConfig.from_url(
        "memcached://10.0.0.1:11211,10.0.0.2:11212?timeout=0.25&key_prefix=shop:&max_connections=8"
    )
    assert config.servers == ("10.0.0.1:11211", "10.0.0.2:11212")
    assert config.addresses() == [("10.0.0.1", 11211), ("10.0.0.2", 11212)]
    assert (config.timeout, config.key_prefix, config.max_connections) == (0.25, "shop:", 8)


def test_url_without_servers_uses_the_default() -> None:
    assert MemcachedConfig.from_url("memcached://").servers == ("127.0.0.1:11211",)


@pytest.mark.parametrize(
    ("url", "field", "value"),
    [
        ("memcached://h:99999", "servers", "h:99999"),
        ("memcached://h:1,h:1", "servers", "h:1,h:1"),
        ("memcached://::1:11211", "servers", "::1:11211"),
        ("memcached://h:1?timeout=0", "timeout", "0"),
        ("memcached://h:1?key_prefix=my%20app", "key_prefix", "my app"),
        ("memcached://h:1?max_item_size=10", "max_item_size", "10"),
        ("memcached://h:1?colour=blue", "colour", "blue"),
        ("memcached://h:1/db", "url", "memcached://h:1/db"),
    ],
)
def test_bad_settings_name_field_and_value(url: str, field: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        MemcachedConfig.from_url(url)
    assert info.value.field == field
    assert info.value.value == value
    assert "\n" not in str(info.value)


def test_constructor_validates_like_the_config() -> None:
    with pytest.raises(ConfigError, match="port") as info:
        MemcachedBackend(["localhost:0"])
    assert info.value.field == "servers"


def test_plugin_registers_name_and_scheme() -> None:
    backends = PluginManager().backends
    spec = backends.get("memcached")
    assert spec.config is MemcachedConfig
    assert backends.for_scheme("memcached") is spec
    assert spec.origin.distribution == "hitbox-backend-memcached"


async def test_resolve_backend_from_url_does_not_connect_yet() -> None:
    backend = resolve_backend(
        "memcached://127.0.0.1:1,127.0.0.1:2?timeout=0.5",
        PluginManager(),
        signing_key="a-secret-of-sixteen-bytes-or-more",
    )
    assert isinstance(backend, MemcachedBackend)
    assert backend.config.servers == ("127.0.0.1:1", "127.0.0.1:2")
    assert backend.config.signing_key_bytes() == b"a-secret-of-sixteen-bytes-or-more"
    assert backend.label == "memcached"
    await backend.aclose()
