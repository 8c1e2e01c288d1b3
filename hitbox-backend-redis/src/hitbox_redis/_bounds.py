"""The bound on every Redis call, and cluster discovery before the first one.

In standalone mode a call is bounded by the client's socket, connect and pool timeouts.
In cluster and sentinel mode redis-py follows redirects and rediscovers nodes itself, a
loop no socket timeout bounds, so such calls run under ``operation_timeout``
(:attr:`CallBounds.deadline`). And redis-py's lazy cluster discovery races when many
first commands start at once (connections get closed under them), so the backend
discovers the nodes itself, once, before its first command.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import final

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from hitbox_redis._config import RedisConfig

__all__ = ["CallBounds"]


@final
class CallBounds:
    """The deadline of one backend's calls and its one-time node discovery."""

    __slots__ = ("_client", "_discovery_lock", "_needs_discovery", "deadline")

    def __init__(self, client: Redis | RedisCluster, config: RedisConfig) -> None:
        self._client = client
        is_cluster = isinstance(client, RedisCluster)
        self.deadline = (
            config.operation_timeout if is_cluster or config.mode != "standalone" else None
        )
        """Seconds a call may take in cluster and sentinel mode; ``None`` in standalone."""
        self._needs_discovery = is_cluster
        self._discovery_lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def bounded(self) -> AsyncIterator[None]:
        """:attr:`deadline` around calls whose client may retry internally, and node
        discovery before the first cluster command."""
        async with asyncio.timeout(self.deadline):
            if self._needs_discovery:
                await self._discover()
            yield

    async def _discover(self) -> None:
        async with self._discovery_lock:
            if self._needs_discovery:
                await self._client.initialize()
                self._needs_discovery = False

    def after_fork(self) -> None:
        """In a forked child: a fresh lock (the parent's belongs to the parent's loop)."""
        self._discovery_lock = asyncio.Lock()
