"""Hitbox's memcached backend, for teams that run memcached.

``MemcachedBackend(["10.0.0.1:11211", "10.0.0.2:11211"])`` spreads entries over the
servers by rendezvous hashing; ``memcached://10.0.0.1:11211,10.0.0.2:11211`` selects it
by URL. Any Hitbox key is stored under a memcached-safe key without collisions, and
entries over the servers' item size limit are skipped with a warning, never an error.
"""

from __future__ import annotations

from hitbox_memcached._backend import MemcachedBackend, OversizedCallback
from hitbox_memcached._config import MemcachedConfig
from hitbox_memcached._keys import encode_key

__all__ = ["MemcachedBackend", "MemcachedConfig", "OversizedCallback", "encode_key"]
