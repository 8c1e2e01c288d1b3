"""Configuration: every malformed input gets one line naming the field and the value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hitbox
import pytest
from hitbox.config import cache_kwargs, config_from_url, env_overrides, load_file, resolve_backend
from hitbox.plugins import PluginManager


@pytest.fixture
def plugins() -> PluginManager:
    return PluginManager()


def _error(config: Any, plugins: PluginManager) -> hitbox.ConfigError:
    with pytest.raises(hitbox.ConfigError) as caught:
        cache_kwargs(config, plugins)
    message = str(caught.value)
    assert "\n" not in message, "errors must fit on one line"
    return caught.value


@pytest.mark.parametrize(
    ("config", "field", "fragment"),
    [
        ({"backend": "nope"}, "backend", "unknown backend 'nope'; installed: "),
        ({"backend": "zzz://host"}, "url", "unknown URL scheme 'zzz'"),
        ({"backend": ""}, "backend", "backend: must name a backend or give a URL"),
        ({"backend": {"url": "memory"}}, "backend.url", "'memory' has no scheme"),
        ({"backend": {"url": "://x"}}, "backend.url", "has no scheme"),
        ({"backend": "memory://["}, "backend.url", "Invalid IPv6 URL (got 'memory://[')"),
        ({"backend": {"max_entries": 5}}, "backend", "give a 'name' or a 'url'"),
        ({"backend": {"name": 7}}, "backend.name", "expected a string (got 7)"),
        ({"backend": {"url": 7}}, "backend.url", "expected a string (got 7)"),
        ({"backend": {"name": "example", "url": "memory://"}}, "backend.name", "does not match"),
        ({"backend": {"name": "memory", "max_entries": "lots"}}, "backend.max_entries", "'lots'"),
        ({"backend": {"name": "memory", "colour": "red"}}, "backend.colour", "unknown setting"),
        ({"backend": "memory://?max_entries=-5"}, "backend.max_entries", "'-5'"),
        ({"backend": "example://?max_entries=0"}, "backend.max_entries", "greater than 0"),
        ({"backnd": "memory"}, "backnd", "backnd: unknown setting"),
        ({"serializer": "yaml"}, "serializer", "unknown serializer 'yaml'"),
        ({"serializer": 3}, "serializer", "serializer: Input should be a valid string (got 3)"),
        ({"key_strategy": "fancy"}, "key_strategy", "unknown key strategy 'fancy'"),
        ({"policy": {"ttl": -1}}, "policy.ttl", "(got -1)"),
        ({"policy": {"ttl": "soon"}}, "policy.ttl", "'soon'"),
        ({"policy": {"lock": "global"}}, "policy.lock", "'global'"),
        ({"policy": {"tll": 5}}, "policy.tll", "unknown setting"),
        ({"policy": {"\n": None}}, "policy.\\n", "policy.\\n: unknown setting"),
        ({"backend": {"name": "memory", "a\nb": 1}}, "backend.a\\nb", "unknown setting"),
        ({"policy": "fast"}, "policy", "'fast'"),
        ({"signing_key": 5}, "signing_key", "(got '***')"),  # never echoed
        ({"backend": 42}, "backend", "(got 42)"),
    ],
)
def test_malformed_config_names_field_and_value(
    config: dict[str, Any], field: str, fragment: str, plugins: PluginManager
) -> None:
    error = _error(config, plugins)
    assert fragment in str(error)
    assert error.field == field


def test_not_a_mapping(plugins: PluginManager) -> None:
    error = _error(["memory"], plugins)
    assert str(error) == "invalid configuration: expected a mapping, got list"


def test_missing_backend_distribution_names_package() -> None:
    plugins = PluginManager(disabled={"memory"})
    error = _error({"backend": "memory"}, plugins)
    assert "(pip install hitbox-backend-memory)" in str(error)


def test_valid_config_builds_every_piece(plugins: PluginManager) -> None:
    kwargs = cache_kwargs(
        {
            "backend": {"name": "example", "max_entries": 10},
            "serializer": "json",
            "namespace": "shop",
            "version": 3,
            "policy": {"ttl": 5, "max_stale": 2},
        },
        plugins,
    )
    assert kwargs["backend"].label == "example"
    assert kwargs["serializer"].name == "json"
    assert kwargs["policy"].ttl == 5
    assert kwargs["key_strategy"].make_key("k").startswith("shop:")


def test_url_and_section_fields_combine(plugins: PluginManager) -> None:
    backend = resolve_backend({"url": "example://?max_entries=3", "max_entries": 4}, plugins)
    assert backend._max_entries == 4  # type: ignore[attr-defined]


def test_signing_key_reaches_bytes_backends(plugins: PluginManager) -> None:
    kwargs = cache_kwargs(
        {"backend": "example://", "signing_key": "a-signing-key-of-32-characters!!"}, plugins
    )
    assert kwargs["backend"].signed is True


def test_config_from_url_rejects_non_urls() -> None:
    with pytest.raises(hitbox.ConfigError, match=r"url: expected a backend URL .*got 'memory'"):
        config_from_url("memory")


def test_env_overrides_nest_on_double_underscore() -> None:
    env = {
        "HITBOX_BACKEND": "memory://",
        "HITBOX_POLICY__TTL": "30",
        "HITBOX_DISABLE_PLUGINS": "x",
        "OTHER": "1",
    }
    assert env_overrides(env) == {"backend": "memory://", "policy": {"ttl": "30"}}
    with pytest.raises(hitbox.ConfigError, match="HITBOX_POLICY____TTL: malformed"):
        env_overrides({"HITBOX_POLICY____TTL": "1"})


def test_load_file_with_env_override(tmp_path: Path, plugins: PluginManager) -> None:
    path = tmp_path / "hitbox.toml"
    path.write_text('backend = "example://"\n[policy]\nttl = 60\nmax_stale = 5\n')
    config = load_file(path, {"HITBOX_POLICY__TTL": "7", "HITBOX_BACKEND__MAX_ENTRIES": "9"})
    assert config == {
        "backend": {"url": "example://", "max_entries": "9"},
        "policy": {"ttl": "7", "max_stale": 5},
    }
    kwargs = cache_kwargs(config, plugins)
    assert kwargs["policy"].ttl == 7.0
    assert kwargs["backend"]._max_entries == 9  # type: ignore[attr-defined]


def test_load_file_reads_hitbox_table(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[hitbox]\nserializer = "json"\n')
    assert load_file(path, {}) == {"serializer": "json"}


def test_load_file_errors(tmp_path: Path) -> None:
    with pytest.raises(hitbox.ConfigError, match=r"config file '.*missing.toml': No such file"):
        load_file(tmp_path / "missing.toml", {})
    bad = tmp_path / "bad.toml"
    bad.write_text("backend = \n")
    with pytest.raises(hitbox.ConfigError, match="invalid TOML"):
        load_file(bad, {})


def test_backend_config_validated_names_backend_field_and_value() -> None:
    class ShopConfig(hitbox.BackendConfig):
        backend_name = "shop"
        blamed_field = "size"
        size: int = 1

    with pytest.raises(hitbox.ConfigError) as caught:
        ShopConfig.validated({"size": "huge"})
    assert str(caught.value).startswith("invalid shop backend setting size: ")
    assert str(caught.value).endswith("(got 'huge')")
    assert (caught.value.field, caught.value.value) == ("size", "huge")
    with pytest.raises(hitbox.ConfigError, match="unknown setting for the shop backend"):
        ShopConfig.from_url("shop://?colour=red")


def test_backend_config_errors_never_echo_secrets() -> None:
    class VaultConfig(hitbox.BackendConfig):
        backend_name = "vault"
        password: int = 0

    with pytest.raises(hitbox.ConfigError) as caught:
        VaultConfig.validated({"password": "hunter2"})
    assert "hunter2" not in str(caught.value)
    assert caught.value.value == "***"


def test_an_error_about_a_setting_from_the_environment_names_the_variable(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "hitbox.toml"
    path.write_text("[hitbox]\npolicy = { ttl = 30 }\n")
    monkeypatch.setenv("HITBOX_POLICY__TTL", "-5")
    with pytest.raises(hitbox.ConfigError, match=r"^policy\.ttl \(from HITBOX_POLICY__TTL\): "):
        hitbox.Cache.from_file(path)
    monkeypatch.delenv("HITBOX_POLICY__TTL")
    path.write_text("[hitbox]\npolicy = { ttl = -5 }\n")
    with pytest.raises(hitbox.ConfigError, match=r"^policy\.ttl: ") as raised:
        hitbox.Cache.from_file(path)
    assert "HITBOX" not in str(raised.value)


def test_the_nearest_enclosing_variable_is_named() -> None:
    from hitbox.config import environment_source

    error = hitbox.ConfigError("x", field="backend.max_entries", value="abc")
    assert environment_source(error, {"HITBOX_BACKEND": "memory://"}) == "HITBOX_BACKEND"
    assert environment_source(error, {"HITBOX_BACKEND__MAX_ENTRIES": "a"}) == (
        "HITBOX_BACKEND__MAX_ENTRIES"
    )
    assert environment_source(error, {"HITBOX_POLICY__TTL": "1"}) is None
