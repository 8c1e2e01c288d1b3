"""RedisConfig: URL forms, defaults, validation messages, and plugin registration."""

from __future__ import annotations

import hitbox
import pytest
from hitbox import ConfigError
from hitbox.config import resolve_backend
from hitbox.plugins import PluginManager
from hitbox_redis import RedisConfig, plugin


def test_defaults_suit_a_cache() -> None:
    config = RedisConfig()
    assert config.socket_timeout == 0.05
    assert config.socket_connect_timeout == 0.05
    assert config.retries == 1
    assert config.max_connections == 50
    assert config.pool_timeout == 0.02
    assert config.auto_batch is True


def test_standalone_url_with_credentials_and_db() -> None:
    config = RedisConfig.from_url("redis://alice:s%3Acret@cache.local:6380/4?socket_timeout=0.2")
    assert config.mode == "standalone"
    assert (config.host, config.port, config.db) == ("cache.local", 6380, 4)
    assert config.username == "alice"
    assert config.password is not None
    assert config.password.get_secret_value() == "s:cret"
    assert config.socket_timeout == 0.2
    assert config.ssl is False


def test_password_only_and_defaults() -> None:
    config = RedisConfig.from_url("redis://:pw@localhost")
    assert config.username is None
    assert config.password is not None
    assert config.password.get_secret_value() == "pw"
    assert (config.port, config.db) == (6379, 0)


def test_password_is_not_in_repr() -> None:
    config = RedisConfig.from_url("redis://u:topsecret@h/0")
    assert "topsecret" not in repr(config)
    assert "topsecret" not in str(config)


def test_rediss_means_tls() -> None:
    config = RedisConfig.from_url("rediss://h:6380/0?ssl_cert_reqs=none&ssl_check_hostname=false")
    assert config.ssl is True
    assert config.ssl_cert_reqs == "none"
    assert config.ssl_check_hostname is False


def test_cluster_url_lists_nodes() -> None:
    config = RedisConfig.from_url("redis+cluster://u:p@10.0.0.1:7000,10.0.0.2,[::1]:7002")
    assert config.mode == "cluster"
    assert config.nodes == ("10.0.0.1:7000", "10.0.0.2:6379", "[::1]:7002")
    assert config.node_addresses() == [("10.0.0.1", 7000), ("10.0.0.2", 6379), ("::1", 7002)]
    assert RedisConfig.from_url("rediss+cluster://a:1").ssl is True


def test_sentinel_url_has_service_name_and_db() -> None:
    config = RedisConfig.from_url("redis+sentinel://s1:26380,s2/mymaster/2?sentinel_password=x")
    assert config.mode == "sentinel"
    assert config.service_name == "mymaster"
    assert config.db == 2
    assert config.node_addresses() == [("s1", 26380), ("s2", 26379)]
    assert config.sentinel_password is not None


def test_overrides_win_over_url() -> None:
    config = RedisConfig.from_url("redis://h/1?max_connections=5", max_connections=9, db=3)
    assert (config.max_connections, config.db) == (9, 3)


@pytest.mark.parametrize(
    ("url", "field", "fragment"),
    [
        ("memcached://h", "url", "unsupported scheme 'memcached'"),
        ("redis://h:99999/0", "url", "port must be a number from 1 to 65535"),
        ("redis://h:abc/0", "url", "got 'abc'"),
        ("redis://h/zero", "db", "not a database number"),
        ("redis://a:1,b:2/0", "url", "several hosts"),
    ],
)
def test_malformed_urls_name_the_problem(url: str, field: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as caught:
        RedisConfig.from_url(url)
    assert caught.value.field == field


def test_error_messages_hide_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        RedisConfig.from_url("redis://u:hunter2@h:0/0")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("redis+cluster://a:1/2", "db must be 0 in cluster mode"),
        ("redis+sentinel://s1:1", "needs service_name"),
        ("redis://h/0?socket_timeout=-1", "greater than 0"),
        ("redis://h/0?max_conections=5", "max_conections"),
        ("redis://h/0?lock_prefix=a{b", "must not contain"),
    ],
)
def test_invalid_settings_are_rejected(url: str, fragment: str) -> None:
    with pytest.raises(hitbox.ConfigError, match=fragment):
        RedisConfig.from_url(url)


def _manager() -> PluginManager:
    manager = PluginManager(load_entry_points=False)
    manager.register(plugin, "redis")
    return manager


def test_plugin_registers_backend_and_schemes() -> None:
    spec = _manager().backends.get("redis")
    assert spec.config is RedisConfig
    assert set(spec.schemes) >= {"redis", "rediss", "redis+cluster", "redis+sentinel"}


async def test_config_resolution_builds_the_backend() -> None:
    from hitbox_redis import RedisBackend

    backend = resolve_backend(
        {"url": "redis+cluster://127.0.0.1:7000", "max_connections": 4}, _manager()
    )
    assert isinstance(backend, RedisBackend)
    assert backend.config.mode == "cluster"
    assert backend.config.max_connections == 4
    await backend.aclose()


def test_config_resolution_reports_bad_fields_in_one_line() -> None:
    with pytest.raises(ConfigError, match=r"backend\.socket_timeout") as caught:
        resolve_backend({"name": "redis", "socket_timeout": "soon"}, _manager())
    assert "\n" not in str(caught.value)


def test_plugin_import_does_not_import_redis() -> None:
    import subprocess
    import sys

    code = "import sys, hitbox_redis.plugin; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
