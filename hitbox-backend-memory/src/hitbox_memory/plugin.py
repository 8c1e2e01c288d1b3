"""Entry-point plugin of hitbox-backend-memory: registers backend ``memory``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import hitbox

from hitbox_memory._config import MemoryConfig

if TYPE_CHECKING:
    from hitbox.plugins import BackendRegistry

    from hitbox_memory._backend import MemoryBackend

__all__ = ["create_backend", "hitbox_register_backends"]


def create_backend(config: MemoryConfig) -> MemoryBackend:
    """Build a :class:`MemoryBackend` from a validated :class:`MemoryConfig`."""
    from hitbox_memory._backend import MemoryBackend

    return MemoryBackend.from_config(config)


@hitbox.hookimpl
def hitbox_register_backends(registry: BackendRegistry) -> None:
    """Register the ``memory`` backend and its ``memory://`` URL scheme."""
    registry.add(
        "memory",
        create_backend,
        config=MemoryConfig,
        schemes=MemoryConfig.schemes,
        description="in-process memory, bounded, W-TinyLFU or LRU eviction, object mode",
    )
