"""Hitbox backend for Redis, Redis Cluster and Redis Sentinel (on ``redis.asyncio``).

::

    from hitbox_redis import RedisBackend

    backend = RedisBackend.from_url("redis://localhost:6379/0")
    backend = RedisBackend.from_url("redis+cluster://10.0.0.1:7000,10.0.0.2:7000")

Or by name through the plugin registry: ``hitbox.Cache.from_url("redis://...")``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hitbox_redis._config import RedisConfig

if TYPE_CHECKING:
    from hitbox_redis._backend import Codec, RedisBackend

__all__ = ["Codec", "RedisBackend", "RedisConfig"]


def __getattr__(name: str) -> Any:
    # The backend imports redis-py; load it only when asked for, so that importing the
    # config (as plugin discovery does) stays cheap.
    if name in ("RedisBackend", "Codec"):
        from hitbox_redis import _backend

        return getattr(_backend, name)
    raise AttributeError(f"module 'hitbox_redis' has no attribute {name!r}")
