"""The registries plugins fill: backends, serializers and key strategies, by name.

Each registry maps a name to a spec (what to build and how, and which plugin registered
it) and refuses collisions, naming both plugins involved. :func:`fill` runs the plugins'
registration hooks into one; :class:`hitbox.plugins.PluginManager` does so once, lazily.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, final

from hitbox._errors import PluginError, UnknownPluginError

if TYPE_CHECKING:
    from hitbox.backend._config import BackendConfig
    from hitbox.backend._contract import Backend
    from hitbox.keys import KeyStrategy
    from hitbox.serializers import Serializer

__all__ = [
    "BackendRegistry",
    "BackendSpec",
    "KeyStrategyRegistry",
    "KeyStrategySpec",
    "PluginInfo",
    "Registry",
    "SerializerRegistry",
    "SerializerSpec",
    "fill",
]


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


class Registry(Generic[_SpecT]):
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
class BackendRegistry(Registry[BackendSpec]):
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
class SerializerRegistry(Registry[SerializerSpec]):
    """Where plugins add serializers (``hitbox_register_serializers(registry)``)."""

    kind = "serializer"

    def add(self, name: str, factory: Callable[[], Serializer], *, description: str = "") -> None:
        """Register serializer ``name``; ``factory()`` returns a :class:`Serializer`."""
        self._store(SerializerSpec(name, factory, description, self._origin))


@final
class KeyStrategyRegistry(Registry[KeyStrategySpec]):
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


def fill(
    registry: Registry[Any], calls: Iterable[tuple[PluginInfo, Callable[..., object]]]
) -> None:
    """Let each plugin's registration hook add to ``registry``, one call per plugin, so each
    registration knows where it came from (what collisions and ``hitbox plugins`` name)."""
    for origin, register in calls:
        registry._bind(origin)
        register(registry=registry)
    registry._bind(PluginInfo("<direct>"))
