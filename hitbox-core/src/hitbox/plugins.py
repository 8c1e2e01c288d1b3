"""Plugin discovery: the plugin manager and the hooks a plugin may implement.

Plugins are pluggy plugins loaded from the entry-point group ``hitbox``. Each entry point's
name is the plugin's name; ``HITBOX_DISABLE_PLUGINS=a,b`` blocks plugins by that name.
Built-in serializers register through the very same entry-point mechanism as a third party.

Nothing happens at import time: :func:`get_plugin_manager` builds (once) a
:class:`PluginManager` that loads entry points and asks every plugin to register into
typed registries (defined in ``hitbox._registries``, importable from here). Names are
resolved when a cache is configured; nothing here runs on a cache hit.
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, final

import pluggy

from hitbox._errors import PluginError
from hitbox._registries import (
    BackendRegistry,
    BackendSpec,
    KeyStrategyRegistry,
    KeyStrategySpec,
    PluginInfo,
    SerializerRegistry,
    SerializerSpec,
    fill,
)

if TYPE_CHECKING:
    import click

    from hitbox.backend._events import BackendEvent
    from hitbox.engine._events import CacheEvent

__all__ = [
    "ENTRY_POINT_GROUP",
    "BackendRegistry",
    "BackendSpec",
    "KeyStrategyRegistry",
    "KeyStrategySpec",
    "PluginInfo",
    "PluginManager",
    "SerializerRegistry",
    "SerializerSpec",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
    "reset_plugin_manager",
]

ENTRY_POINT_GROUP = "hitbox"
"""The entry-point group plugins are declared in (``[project.entry-points.hitbox]``)."""

hookspec = pluggy.HookspecMarker("hitbox")
"""Marks hook specifications (used by Hitbox itself)."""

hookimpl = pluggy.HookimplMarker("hitbox")
"""Marks a plugin's hook implementations: ``@hitbox.hookimpl def hitbox_register_backends(...)``."""


class _HookSpecs:
    """The hooks a Hitbox plugin may implement."""

    @hookspec
    def hitbox_register_backends(self, registry: BackendRegistry) -> None:
        """Add backends with ``registry.add(name, factory, config=..., schemes=...)``."""

    @hookspec
    def hitbox_register_serializers(self, registry: SerializerRegistry) -> None:
        """Add serializers with ``registry.add(name, factory)``."""

    @hookspec
    def hitbox_register_key_strategies(self, registry: KeyStrategyRegistry) -> None:
        """Add key strategies with ``registry.add(name, factory)``."""

    @hookspec
    def hitbox_add_commands(self, cli: click.Group) -> None:
        """Add subcommands to the ``hitbox`` command line (a :class:`click.Group`)."""

    @hookspec
    def hitbox_cache_event(self, event: CacheEvent) -> None:
        """Observe one cache run (metrics, tracing, logging). Must be fast and not raise."""

    @hookspec
    def hitbox_backend_event(self, event: BackendEvent) -> None:
        """Observe something a backend noticed outside a run (e.g. an oversized value)."""


def disabled_plugin_names(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """Plugin names listed in ``HITBOX_DISABLE_PLUGINS`` (comma-separated)."""
    raw = (os.environ if environ is None else environ).get("HITBOX_DISABLE_PLUGINS", "")
    return frozenset(name.strip() for name in raw.split(",") if name.strip())


@final
class PluginManager:
    """Loads plugins and holds the registries they fill.

    Construct one explicitly (tests do, to isolate plugins) or use the process-wide one
    from :func:`get_plugin_manager`. ``load_entry_points=False`` gives an empty manager
    to which plugins are added with :meth:`register`.
    """

    def __init__(
        self,
        *,
        load_entry_points: bool = True,
        disabled: Iterable[str] | None = None,
    ) -> None:
        self._pm = pluggy.PluginManager("hitbox")
        self._pm.add_hookspecs(_HookSpecs)
        self._disabled = frozenset(disabled_plugin_names() if disabled is None else disabled)
        for name in self._disabled:
            self._pm.set_blocked(name)
        self._infos: dict[str, PluginInfo] = {}
        self._registries: tuple[BackendRegistry, SerializerRegistry, KeyStrategyRegistry] | None
        self._registries = None
        if load_entry_points:
            self._load_entry_points()

    def _load_entry_points(self) -> None:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in self._disabled or self._pm.get_plugin(ep.name) is not None:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(
                    f"plugin {ep.name!r} ({ep.value}) failed to import: {exc!r}; "
                    f"fix or uninstall it, or set HITBOX_DISABLE_PLUGINS={ep.name}"
                ) from exc
            dist = ep.dist
            info = PluginInfo(
                ep.name,
                dist.metadata["Name"] if dist is not None else None,
                dist.version if dist is not None else None,
            )
            self.register(plugin, ep.name, info=info)

    def register(self, plugin: object, name: str, *, info: PluginInfo | None = None) -> None:
        """Add a plugin object or module under ``name`` (must be unique)."""
        if name in self._disabled:
            return
        if self._pm.get_plugin(name) is not None:
            raise PluginError(f"a plugin named {name!r} is already registered")
        self._pm.register(plugin, name=name)
        self._infos[name] = info or PluginInfo(name)
        self._registries = None

    def plugin_infos(self) -> list[PluginInfo]:
        """Every loaded plugin, sorted by name."""
        return [self._infos[name] for name in sorted(self._infos)]

    def plugin_hooks(self, name: str) -> list[str]:
        """Names of the hooks plugin ``name`` implements, sorted (empty if unknown)."""
        plugin = self._pm.get_plugin(name)
        if plugin is None:
            return []
        return sorted(caller.name for caller in self._pm.get_hookcallers(plugin) or ())

    @property
    def hook(self) -> Any:
        """pluggy's hook relay (``manager.hook.hitbox_add_commands(cli=...)``)."""
        return self._pm.hook

    def has_event_listeners(self) -> bool:
        """Whether any plugin implements ``hitbox_cache_event`` (checked once per cache)."""
        return bool(self._pm.hook.hitbox_cache_event.get_hookimpls())

    def _collect(self) -> tuple[BackendRegistry, SerializerRegistry, KeyStrategyRegistry]:
        if self._registries is None:
            backends, serializers, strategies = (
                BackendRegistry(),
                SerializerRegistry(),
                KeyStrategyRegistry(),
            )
            for hook_name, registry in (
                ("hitbox_register_backends", backends),
                ("hitbox_register_serializers", serializers),
                ("hitbox_register_key_strategies", strategies),
            ):
                impls = getattr(self._pm.hook, hook_name).get_hookimpls()
                fill(registry, [(self._info(impl.plugin_name), impl.function) for impl in impls])
            self._registries = (backends, serializers, strategies)
        return self._registries

    def _info(self, name: str) -> PluginInfo:
        return self._infos.get(name, PluginInfo(name))

    @property
    def backends(self) -> BackendRegistry:
        """Every registered backend."""
        return self._collect()[0]

    @property
    def serializers(self) -> SerializerRegistry:
        """Every registered serializer."""
        return self._collect()[1]

    @property
    def key_strategies(self) -> KeyStrategyRegistry:
        """Every registered key strategy."""
        return self._collect()[2]


_default_manager: PluginManager | None = None
_default_lock = threading.Lock()


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, built on first use from installed entry points."""
    global _default_manager
    if _default_manager is None:
        with _default_lock:
            if _default_manager is None:
                _default_manager = PluginManager()
    return _default_manager


def reset_plugin_manager(manager: PluginManager | None = None) -> None:
    """Replace (or drop, to rebuild lazily) the process-wide plugin manager. For tests."""
    global _default_manager
    with _default_lock:
        _default_manager = manager
