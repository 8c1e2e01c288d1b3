"""Plugin discovery: entry points, registries, collisions, blocking, lazy imports."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import hitbox
import pytest
from hitbox.plugins import (
    BackendRegistry,
    PluginManager,
    SerializerRegistry,
    get_plugin_manager,
)


class _DictBackend(hitbox.Backend):
    async def get(self, key: str) -> hitbox.CachedValue | None:
        return None

    async def set(self, key: str, value: hitbox.CachedValue, ttl: float) -> None:
        return None

    async def delete(self, key: str) -> None:
        return None


class _Config(hitbox.BackendConfig):
    size: int = 1


def _backend_plugin(name: str, schemes: tuple[str, ...] = ()) -> Any:
    class Plugin:
        @hitbox.hookimpl
        def hitbox_register_backends(self, registry: BackendRegistry) -> None:
            registry.add(name, lambda config: _DictBackend(), config=_Config, schemes=schemes)

    return Plugin()


def test_installed_entry_points_are_discovered_with_their_distribution() -> None:
    manager = PluginManager()
    infos = {info.plugin: info for info in manager.plugin_infos()}
    assert infos["builtin"].distribution == "hitbox-core"
    assert infos["memory"].distribution == "hitbox-backend-memory"
    assert infos["example"].distribution == "hitbox-backend-example"
    assert infos["memory"].version == "0.1.0"
    memory = manager.backends.get("memory")
    assert memory.origin.distribution == "hitbox-backend-memory"
    assert "memory" in memory.schemes


def test_builtin_serializers_register_through_the_entry_point() -> None:
    manager = PluginManager()
    assert {"cbor", "json", "msgpack", "raw", "pickle"} <= set(manager.serializers.names())
    assert manager.serializers.get("cbor").origin.plugin == "builtin"
    assert manager.key_strategies.get("default").origin.distribution == "hitbox-core"


def test_empty_manager_registers_plugins_directly() -> None:
    manager = PluginManager(load_entry_points=False)
    assert manager.backends.names() == []
    manager.register(_backend_plugin("mine", ("mine",)), "mine-plugin")
    spec = manager.backends.get("mine")
    assert spec.origin.plugin == "mine-plugin"
    assert manager.backends.for_scheme("mine") is spec


def test_backend_name_collision_names_both_plugins() -> None:
    manager = PluginManager(load_entry_points=False)
    manager.register(_backend_plugin("dup"), "first")
    manager.register(_backend_plugin("dup"), "second")
    with pytest.raises(hitbox.PluginError, match=r"'dup' is registered twice.*'first'.*'second'"):
        manager.backends.names()


def test_url_scheme_collision_is_an_error() -> None:
    manager = PluginManager(load_entry_points=False)
    manager.register(_backend_plugin("one", ("shared",)), "first")
    manager.register(_backend_plugin("two", ("shared",)), "second")
    with pytest.raises(hitbox.PluginError, match="URL scheme 'shared' is claimed"):
        manager.backends.names()


def test_serializer_collision_is_an_error() -> None:
    class Plugin:
        @hitbox.hookimpl
        def hitbox_register_serializers(self, registry: SerializerRegistry) -> None:
            registry.add("cbor", lambda: None)  # type: ignore[arg-type, return-value]

    manager = PluginManager()
    manager.register(Plugin(), "impostor")
    with pytest.raises(hitbox.PluginError, match="serializer name 'cbor' is registered twice"):
        manager.serializers.names()


def test_duplicate_plugin_name_is_refused() -> None:
    manager = PluginManager(load_entry_points=False)
    manager.register(_backend_plugin("a"), "same")
    with pytest.raises(hitbox.PluginError, match="already registered"):
        manager.register(_backend_plugin("b"), "same")


def test_disable_plugins_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HITBOX_DISABLE_PLUGINS", " memory , example")
    manager = PluginManager()
    assert "memory" not in manager.backends
    assert "example" not in manager.backends
    with pytest.raises(hitbox.UnknownPluginError, match=r"pip install hitbox-backend-memory"):
        manager.backends.get("memory")


def test_unknown_backend_lists_installed_ones() -> None:
    manager = PluginManager()
    with pytest.raises(hitbox.UnknownPluginError) as caught:
        manager.backends.get("nope")
    message = str(caught.value)
    assert "unknown backend 'nope'" in message
    assert "memory" in message
    assert caught.value.field == "backend"
    assert caught.value.value == "nope"


def test_broken_plugin_import_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    broken = importlib.metadata.EntryPoint(
        name="broken", value="hitbox_no_such_module.plugin", group="hitbox"
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [broken])
    with pytest.raises(hitbox.PluginError, match=r"plugin 'broken'.*HITBOX_DISABLE_PLUGINS=broken"):
        PluginManager()
    assert "broken" not in {i.plugin for i in PluginManager(disabled={"broken"}).plugin_infos()}


def test_event_listener_flag() -> None:
    manager = PluginManager()
    assert manager.has_event_listeners() is False

    class Listener:
        @hitbox.hookimpl
        def hitbox_cache_event(self, event: object) -> None:
            return None

    manager.register(Listener(), "listener")
    assert manager.has_event_listeners() is True


def test_default_manager_is_built_once() -> None:
    assert get_plugin_manager() is get_plugin_manager()


def test_import_and_discovery_stay_cheap() -> None:
    """Importing hitbox loads no plugin; discovery imports no heavy client library."""
    script = textwrap.dedent(
        """
        import sys
        import hitbox
        assert "hitbox_memory" not in sys.modules, "import hitbox loaded a plugin"
        assert "pluggy" in sys.modules
        from hitbox.plugins import get_plugin_manager
        manager = get_plugin_manager()
        manager.backends.names(); manager.serializers.names()
        heavy = [m for m in ("redis", "aiobotocore", "botocore", "aiomcache")
                 if m in sys.modules]
        assert not heavy, f"discovery imported {heavy}"
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)
