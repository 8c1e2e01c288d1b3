"""Every configuration mistake, from every entry point, is one ConfigError line naming the
field and the value, with a did-you-mean for unknown names at every level."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import hitbox
import pytest
from hitbox import cli as hitbox_cli
from hitbox import config as hitbox_config
from hitbox.plugins import BackendRegistry, PluginManager


def _error(build: Callable[[], object]) -> hitbox.ConfigError:
    with pytest.raises(hitbox.ConfigError) as caught:
        build()
    message = str(caught.value)
    assert "\n" not in message, message
    assert "backend backend" not in message, message
    return caught.value


def test_policy_constructor_raises_one_line_config_error() -> None:
    error = _error(lambda: hitbox.Policy(ttl=-1))
    assert str(error) == "policy.ttl: Input should be greater than 0 (got -1)"
    assert (error.field, error.value) == ("policy.ttl", -1)
    assert isinstance(error, ValueError)  # code that caught pydantic's error still catches it


@pytest.mark.parametrize(
    ("build", "field", "fragment"),
    [
        (
            lambda: hitbox.Cache.from_config({"namespce": "shop"}),
            "namespce",
            "namespce: unknown setting; did you mean 'namespace'?",
        ),
        (
            lambda: hitbox.Policy(tll=5),
            "policy.tll",
            "policy.tll: unknown setting; did you mean 'ttl'?",
        ),
        (
            lambda: hitbox.Cache(policy={"max_stail": 5}),
            "policy.max_stail",
            "did you mean 'max_stale'?",
        ),
        (
            lambda: hitbox.Cache.from_config({"backend": {"name": "memory", "max_entrys": 3}}),
            "backend.max_entrys",
            "invalid configuration: backend.max_entrys: unknown setting; "
            "did you mean 'max_entries'?",
        ),
        (
            lambda: hitbox.Cache.from_url("memory://?max_entris=5"),
            "backend.max_entris",
            "invalid memory backend setting max_entris: unknown setting for the memory "
            "backend (got '5'); did you mean 'max_entries'?",
        ),
        (
            lambda: hitbox.Cache.from_url("example://?max_entres=5"),
            "backend.max_entres",
            "unknown setting for the example backend (got '5'); did you mean 'max_entries'?",
        ),
        (
            lambda: hitbox.Cache("memry"),
            "backend",
            "unknown backend 'memry' (did you mean 'memory'?); installed: ",
        ),
        (
            lambda: hitbox.Cache.from_url("memroy://"),
            "url",
            "unknown URL scheme 'memroy' (did you mean 'memory'?)",
        ),
        (
            lambda: hitbox.Cache(serializer="jsn"),
            "serializer",
            "unknown serializer 'jsn' (did you mean 'json'?)",
        ),
        (
            lambda: hitbox.Cache(key_strategy={"name": "default", "namespce": "x"}),
            "key_strategy.namespce",
            "got 'x'; did you mean 'namespace'?",
        ),
        (
            lambda: hitbox.Cache.from_config({"zzzzzz": 1}),
            "zzzzzz",
            "zzzzzz: unknown setting; known: backend, key_strategy, namespace, policy, ",
        ),
    ],
)
def test_unknown_names_suggest_the_closest(
    build: Callable[[], object], field: str, fragment: str
) -> None:
    error = _error(build)
    assert fragment in str(error)
    assert error.field == field


def test_unnamed_backend_config_is_named_after_its_class() -> None:
    class ShopConfig(hitbox.BackendConfig):
        size: int = 1

    error = _error(lambda: ShopConfig.from_url("shop://?sise=2"))
    assert str(error) == (
        "invalid shop backend setting sise: unknown setting for the shop backend (got '2'); "
        "did you mean 'size'?"
    )


def test_environment_mistakes_are_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "hitbox.toml"
    path.write_text('backend = "memory"\n')
    config = hitbox_config.load_file(path, {"HITBOX_POLICY__TTL": "-5", "HITBOX_NAMESPCE": "x"})
    error = _error(lambda: hitbox.Cache.from_config(config))
    assert "namespce: unknown setting; did you mean 'namespace'?" in str(error)


class _FailingBackendConfig(hitbox.BackendConfig):
    pass


class _FailingPlugin:
    @hitbox.hookimpl
    def hitbox_register_backends(self, registry: BackendRegistry) -> None:
        def factory(config: Any) -> hitbox.Backend:
            raise RuntimeError("driver missing")

        registry.add("fragile", factory, config=_FailingBackendConfig, schemes=["fragile"])


def _fragile_plugins() -> PluginManager:
    manager = PluginManager(load_entry_points=False)
    manager.register(_FailingPlugin(), "fragileplugin")
    return manager


def test_backend_factory_failure_names_the_plugin() -> None:
    with pytest.raises(hitbox.PluginError) as caught:
        hitbox.Cache("fragile", plugins=_fragile_plugins())
    assert str(caught.value) == (
        "backend 'fragile' (plugin 'fragileplugin') failed to start: RuntimeError('driver missing')"
    )


def test_cli_check_reports_a_failing_backend_on_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    manager = _fragile_plugins()
    monkeypatch.setattr(hitbox_config, "get_plugin_manager", lambda: manager)
    monkeypatch.setattr(hitbox_cli, "get_plugin_manager", lambda: manager)
    with pytest.raises(SystemExit) as exited:
        hitbox_cli.main(["check", "--url", "fragile://"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        "hitbox: error: backend 'fragile' (plugin 'fragileplugin') failed to start: "
        "RuntimeError('driver missing')\n"
    )
