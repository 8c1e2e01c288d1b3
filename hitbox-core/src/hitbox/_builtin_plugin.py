"""Hitbox's own plugin: registers the built-in serializers and key strategies.

Loaded through the ``hitbox`` entry-point group like any third-party plugin, so the
built-ins get no special path through discovery.
"""

from __future__ import annotations

from hitbox import keys, serializers
from hitbox.plugins import KeyStrategyRegistry, SerializerRegistry, hookimpl


@hookimpl
def hitbox_register_serializers(registry: SerializerRegistry) -> None:
    """Register ``cbor``, ``json``, ``msgpack``, ``raw`` and ``pickle``."""
    serializers.register_builtin_serializers(registry)


@hookimpl
def hitbox_register_key_strategies(registry: KeyStrategyRegistry) -> None:
    """Register the ``default`` key strategy."""
    keys.register_builtin_key_strategies(registry)
