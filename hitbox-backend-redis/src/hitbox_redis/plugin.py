"""Entry-point plugin of hitbox-backend-redis: registers backend ``redis`` and its schemes.

Importing this module imports no Redis client; the factory does, when a cache is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import hitbox

from hitbox_redis._config import RedisConfig

if TYPE_CHECKING:
    from hitbox.plugins import BackendRegistry

    from hitbox_redis._backend import RedisBackend

__all__ = ["create_backend", "hitbox_register_backends"]


def create_backend(config: RedisConfig) -> RedisBackend:
    """Build a :class:`RedisBackend` from a validated :class:`RedisConfig`."""
    from hitbox_redis._backend import RedisBackend

    return RedisBackend.from_config(config)


@hitbox.hookimpl
def hitbox_register_backends(registry: BackendRegistry) -> None:
    """Register the ``redis`` backend for ``redis://``, ``rediss://``, ``redis+cluster://``
    and ``redis+sentinel://`` URLs (and their TLS ``rediss+...`` forms)."""
    registry.add(
        "redis",
        create_backend,
        config=RedisConfig,
        schemes=RedisConfig.schemes,
        description="Redis, Redis Cluster or Sentinel; pipelining, auto-batching, "
        "distributed locks, pub/sub invalidation",
    )
