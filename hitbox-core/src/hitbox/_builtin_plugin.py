"""Hitbox's own plugin: registers the built-in serializers, key strategies and the
``tiered`` backend (a composition of other backends: the core imports none of them).

Loaded through the ``hitbox`` entry-point group like any third-party plugin, so the
built-ins get no special path through discovery.
"""

from __future__ import annotations

from hitbox import keys, serializers
from hitbox.plugins import BackendRegistry, KeyStrategyRegistry, SerializerRegistry, hookimpl


@hookimpl
def hitbox_register_serializers(registry: SerializerRegistry) -> None:
    """Register ``cbor``, ``json``, ``msgpack``, ``raw`` and ``pickle``."""
    serializers.register_builtin_serializers(registry)


@hookimpl
def hitbox_register_key_strategies(registry: KeyStrategyRegistry) -> None:
    """Register the ``default`` key strategy."""
    keys.register_builtin_key_strategies(registry)


@hookimpl
def hitbox_register_backends(registry: BackendRegistry) -> None:
    """Register ``tiered``: a composition of other backends (L1 → L2 → ...)."""
    from hitbox.tiered._config import TieredConfig, create_tiered_backend

    registry.add(
        "tiered",
        create_tiered_backend,
        config=TieredConfig,
        description="backends stacked L1 -> L2 -> ...; cross-instance L1 invalidation",
    )
