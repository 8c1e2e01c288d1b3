"""Plugin discovery and the registries plugins fill.

Plugins are pluggy plugins loaded from the entry-point group ``hitbox``. Each entry point's
name is the plugin's name; ``HITBOX_DISABLE_PLUGINS=a,b`` blocks plugins by that name.
Built-in serializers register through the very same entry-point mechanism as a third party.

Nothing happens at import time: :func:`get_plugin_manager` builds (once) a
:class:`PluginManager` that loads entry points and asks every plugin to register into
typed registries. Names are resolved when a cache is configured; nothing here runs on a
cache hit.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, final

import pluggy

from hitbox._errors import PluginError, UnknownPluginError

if TYPE_CHECKING:
    import click

    from hitbox.backend._config import BackendConfig
    from hitbox.backend._contract import Backend
    from hitbox.backend._events import BackendEvent
    from hitbox.engine._events import CacheEvent
    from hitbox.keys import KeyStrategy
    from hitbox.serializers import Serializer

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


@final
@dataclass(frozen=True, slots=True)
class PluginInfo:
    """Where a registered thing came from: plugin name, distribution and its version."""

    plugin: str
    distribution: str | None = None
    version: str | None = None


@final
@dataclass(frozen=True, slots=True)
class BackendSpec:
    """A registered backend: how to configure and build it."""

    name: str
    factory: Callable[[Any], Backend]
    config: type[BackendConfig]
    schemes: tuple[str, ...]
    description: str
    origin: PluginInfo


@final
@dataclass(frozen=True, slots=True)
class SerializerSpec:
    """A registered serializer factory."""

    name: str
    factory: Callable[[], Serializer]
    description: str
    origin: PluginInfo


@final
@dataclass(frozen=True, slots=True)
class KeyStrategySpec:
    """A registered key strategy factory (called with the strategy's options)."""

    name: str
    factory: Callable[..., KeyStrategy]
    description: str
    origin: PluginInfo


_SpecT = TypeVar("_SpecT", BackendSpec, SerializerSpec, KeyStrategySpec)


class _Registry(Generic[_SpecT]):
    """Name -> spec mapping that refuses collisions, naming both plugins involved."""

    kind: str = "thing"

    def __init__(self) -> None:
        self._specs: dict[str, _SpecT] = {}
        self._origin = PluginInfo("<direct>")

    def _bind(self, origin: PluginInfo) -> None:
        self._origin = origin

    def _store(self, spec: _SpecT) -> None:
        if not spec.name or not spec.name.replace("-", "_").replace("+", "_").isidentifier():
            raise PluginError(
                f"plugin {spec.origin.plugin!r} registered a {self.kind} with an invalid "
                f"name {spec.name!r}: use letters, digits, '_' or '-'"
            )
        existing = self._specs.get(spec.name)
        if existing is not None:
            raise PluginError(
                f"{self.kind} name {spec.name!r} is registered twice: by plugin "
                f"{_describe(existing.origin)} and by plugin {_describe(spec.origin)}; "
                f"uninstall one or block it with HITBOX_DISABLE_PLUGINS"
            )
        self._specs[spec.name] = spec

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Any:
        return iter(sorted(self._specs))

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._specs)

    def specs(self) -> list[_SpecT]:
        """Registered specs, sorted by name."""
        return [self._specs[name] for name in sorted(self._specs)]

    def get(self, name: str) -> _SpecT:
        """The spec registered as ``name``; :class:`UnknownPluginError` lists what exists."""
        try:
            return self._specs[name]
        except KeyError:
            close = difflib.get_close_matches(str(name), self.names(), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UnknownPluginError(
                f"unknown {self.kind} {name!r}{hint}; installed: "
                f"{', '.join(self.names()) or '(none)'}{_install_hint(self.kind, name)}",
                field=self.kind.replace(" ", "_"),
                value=name,
            ) from None


@final
class BackendRegistry(_Registry[BackendSpec]):
    """Where plugins add backends (``hitbox_register_backends(registry)``)."""

    kind = "backend"

    def add(
        self,
        name: str,
        factory: Callable[[Any], Backend],
        *,
        config: type[BackendConfig],
        schemes: Iterable[str] = (),
        description: str = "",
    ) -> None:
        """Register backend ``name``.

        ``factory`` receives a validated instance of ``config`` (a :class:`BackendConfig`
        subclass) and returns the backend; import heavy client libraries inside it.
        ``schemes`` are the URL schemes :meth:`hitbox.Cache.from_url` maps to this backend.
        """
        schemes = tuple(schemes)
        for scheme in schemes:
            for other in self._specs.values():
                if scheme in other.schemes:
                    raise PluginError(
                        f"URL scheme {scheme!r} is claimed by backend {other.name!r} "
                        f"(plugin {_describe(other.origin)}) and by backend {name!r} "
                        f"(plugin {_describe(self._origin)})"
                    )
        self._store(BackendSpec(name, factory, config, schemes, description, self._origin))

    def for_scheme(self, scheme: str) -> BackendSpec:
        """The backend registered for URL ``scheme``."""
        for spec in self._specs.values():
            if scheme in spec.schemes:
                return spec
        known = sorted(s for spec in self._specs.values() for s in spec.schemes)
        close = difflib.get_close_matches(scheme, known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownPluginError(
            f"unknown URL scheme {scheme!r}{hint}; registered schemes: "
            f"{', '.join(known) or '(none)'}{_install_hint('backend', scheme.split('+')[0])}",
            field="url",
            value=scheme,
        )


@final
class SerializerRegistry(_Registry[SerializerSpec]):
    """Where plugins add serializers (``hitbox_register_serializers(registry)``)."""

    kind = "serializer"

    def add(self, name: str, factory: Callable[[], Serializer], *, description: str = "") -> None:
        """Register serializer ``name``; ``factory()`` returns a :class:`Serializer`."""
        self._store(SerializerSpec(name, factory, description, self._origin))


@final
class KeyStrategyRegistry(_Registry[KeyStrategySpec]):
    """Where plugins add key strategies (``hitbox_register_key_strategies(registry)``)."""

    kind = "key strategy"

    def add(self, name: str, factory: Callable[..., KeyStrategy], *, description: str = "") -> None:
        """Register key strategy ``name``; ``factory(**options)`` returns a strategy."""
        self._store(KeyStrategySpec(name, factory, description, self._origin))


_KNOWN_DISTRIBUTIONS = {
    "memory": "hitbox-backend-memory",
    "redis": "hitbox-backend-redis",
    "rediss": "hitbox-backend-redis",
    "dynamodb": "hitbox-backend-dynamodb",
    "sqlite": "hitbox-backend-sqlite",
    "memcached": "hitbox-backend-memcached",
}


def _install_hint(kind: str, name: str) -> str:
    dist = _KNOWN_DISTRIBUTIONS.get(name) if kind == "backend" else None
    if dist is None:
        return ""
    return f" (pip install {dist})"


def _describe(origin: PluginInfo) -> str:
    if origin.distribution:
        return f"{origin.plugin!r} from {origin.distribution} {origin.version}"
    return repr(origin.plugin)


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
                # One call per plugin, so each registration knows where it came from.
                for impl in getattr(self._pm.hook, hook_name).get_hookimpls():
                    registry._bind(self._infos.get(impl.plugin_name, PluginInfo(impl.plugin_name)))
                    impl.function(registry=registry)
                registry._bind(PluginInfo("<direct>"))
            self._registries = (backends, serializers, strategies)
        return self._registries

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
