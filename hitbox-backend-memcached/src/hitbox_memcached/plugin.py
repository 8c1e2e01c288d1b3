"""Entry-point plugin of hitbox-backend-memcached: registers backend ``memcached``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import hitbox

from hitbox_memcached._config import MemcachedConfig

if TYPE_CHECKING:
    from hitbox.plugins import BackendRegistry

    from hitbox_memcached._backend import MemcachedBackend

__all__ = ["create_backend", "hitbox_register_backends"]


def create_backend(config: MemcachedConfig) -> MemcachedBackend:
    """Build a :class:`MemcachedBackend` from a validated :class:`MemcachedConfig`."""
    from hitbox_memcached._backend import MemcachedBackend

    return MemcachedBackend.from_config(config)


@hitbox.hookimpl
def hitbox_register_backends(registry: BackendRegistry) -> None:
    """Register the ``memcached`` backend and its ``memcached://`` URL scheme."""
    registry.add(
        "memcached",
        create_backend,
        config=MemcachedConfig,
        schemes=MemcachedConfig.schemes,
        description="memcached servers (emcache), rendezvous hashing, batch reads and locks",
    )
