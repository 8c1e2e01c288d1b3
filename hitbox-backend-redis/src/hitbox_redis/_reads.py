"""How the Redis backend reads entries: one round trip for as many keys as it can.

:class:`AsyncReader` turns a list of distinct keys into their decoded entries. A single
key on a standalone client the backend built goes the lean way, one bounded ``GETRANGE``
on :class:`hitbox_redis._connection.DirectConnection` (the hit path of ``get``);
anything else runs :data:`hitbox_redis._sizes.BOUNDED_MGET`, one script call per group
of at most ``max_batch_size`` keys (per hash slot in cluster mode), several groups in one
pipeline. Either way a value over ``max_value_size`` is never transferred: it reads as a
miss and is reported through :class:`hitbox_redis._sizes.SizeLimit`.

The backend hands :meth:`AsyncReader.fetch` to its :class:`hitbox_redis._batching.ReadCoalescer`
(or calls it directly with batching off), so a ``get`` costs the same calls and attribute
lookups as when these methods were the backend's own.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, cast, final

from hitbox import CachedValue, CorruptEntry
from hitbox.backend import Deadlines
from hitbox.codec import Codec
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from hitbox_redis._connection import DirectConnection
from hitbox_redis._keys import group_by_slot
from hitbox_redis._pool import WaitingConnectionPool
from hitbox_redis._sizes import BOUNDED_MGET, SizeLimit

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

__all__ = ["AsyncReader", "ReadResult"]

ReadResult = CachedValue | None | CorruptEntry
"""An entry as read: decoded, ``None`` if absent (or over the limit), or why it is corrupt
(returned, not raised, so that one bad entry does not fail the batch it was read in)."""

_Raw = bytes | int | None
"""A value as read: its bytes, ``None`` if absent, or its length if over the limit."""


@final
class AsyncReader:
    """Reads and decodes the entries of one backend's client on the event loop."""

    __slots__ = (
        "_bounded",
        "_bounded_mget",
        "_client",
        "_codec",
        "_deadline",
        "_deadlines",
        "_direct_pool",
        "_is_cluster",
        "_max_batch",
        "_sizes",
    )

    def __init__(
        self,
        client: Redis | RedisCluster,
        *,
        codec: Codec,
        sizes: SizeLimit,
        max_batch: int,
        deadline: float | None,
        bounded: Callable[[], AbstractAsyncContextManager[None]],
    ) -> None:
        """``deadline`` and ``bounded`` are the backend's: ``bounded()`` wraps a call whose
        client may retry internally in that deadline (and discovers cluster nodes first)."""
        self._client = client
        self._codec = codec
        self._sizes = sizes
        self._max_batch = max_batch
        self._deadline = deadline
        self._bounded = bounded
        self._is_cluster = isinstance(client, RedisCluster)
        # Standalone clients built by the backend read single keys on the lean path.
        pool = getattr(client, "connection_pool", None)
        self._direct_pool = (
            pool
            if isinstance(pool, WaitingConnectionPool)
            and issubclass(pool.connection_class, DirectConnection)
            else None
        )
        self._deadlines = Deadlines()
        self._bounded_mget: AsyncScript = client.register_script(BOUNDED_MGET)

    def after_fork(self) -> None:
        """In a forked child: a fresh timer (the parent's belongs to the parent's loop)."""
        self._deadlines = Deadlines()

    async def fetch(self, keys: list[str]) -> list[ReadResult]:
        """Read and decode ``keys`` (distinct) in as few round trips as the topology allows."""
        raw = await self._read(keys)
        decode = self._codec.decode
        results: list[ReadResult] = []
        for key, data in zip(keys, raw, strict=True):
            if data is None:
                results.append(None)
                continue
            if isinstance(data, int):
                self._sizes.found_stored(key, data)
                results.append(None)
                continue
            try:
                results.append(decode(data, key))
            except CorruptEntry as exc:
                results.append(exc)
        return results

    async def _read(self, keys: list[str]) -> list[_Raw]:
        if len(keys) == 1 and self._direct_pool is not None:  # standalone's hit path
            return [await self._get_direct(keys[0])]
        size = self._max_batch
        if self._is_cluster:
            groups = [
                chunk[start : start + size]
                for chunk in group_by_slot(keys).values()
                for start in range(0, len(chunk), size)
            ]
        else:
            groups = [keys[start : start + size] for start in range(0, len(keys), size)]
        if len(groups) == 1:
            return await self._mget(groups[0])
        limit = self._sizes.limit
        async with self._bounded():
            try:
                replies = await self._mget_pipeline(groups, limit)
            except NoScriptError:  # a restarted or flushed server: load it, once
                await self._client.script_load(BOUNDED_MGET)
                replies = await self._mget_pipeline(groups, limit)
        by_key: dict[str, _Raw] = {}
        for group, reply in zip(groups, replies, strict=True):
            by_key.update(zip(group, reply, strict=True))
        return [by_key[key] for key in keys]

    async def _mget(self, keys: list[str]) -> list[_Raw]:
        """``MGET`` of one group (one slot in cluster mode), sizes over the limit only."""
        if self._deadline is None:
            return list(await self._bounded_mget(keys=keys, args=[self._sizes.limit]))
        async with self._bounded():
            return list(await self._bounded_mget(keys=keys, args=[self._sizes.limit]))

    async def _mget_pipeline(self, groups: list[list[str]], limit: int) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        for group in groups:
            pipe.execute_command("EVALSHA", self._bounded_mget.sha, len(group), *group, limit)
        return list(await pipe.execute())

    async def _get_direct(self, key: str) -> _Raw:
        pool = self._direct_pool
        assert pool is not None
        connection = cast(DirectConnection, await pool.get_connection())
        try:
            reply = await connection.get(self._deadlines, key, self._sizes.limit)
        finally:
            await pool.release(connection)
        return reply
