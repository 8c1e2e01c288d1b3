"""The Redis backend: envelope storage, batching, locks, the invalidation bus, health.

Entries are stored as envelope bytes (:class:`hitbox.EnvelopeCodec`) under the cache key
with ``PX`` set to the ``ttl`` the cache passes -- the entry's full lifetime (fresh, stale
and stale-if-error windows together). The backend raises redis-py's errors; the cache
turns them into upstream calls (fail-open). Every call is bounded
(:mod:`hitbox_redis._bounds`). Reads live in :mod:`hitbox_redis._reads`.
"""

from __future__ import annotations

import math
import os
import secrets
import uuid
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self, final

from hitbox import Backend, CachedValue, CorruptEntry, EnvelopeCodec, Invalidation
from hitbox.codec import Codec
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from hitbox_redis._batching import Command, PipelineBatcher, ReadCoalescer
from hitbox_redis._bounds import CallBounds
from hitbox_redis._bus import InvalidationChannel
from hitbox_redis._client import build_client
from hitbox_redis._config import RedisConfig
from hitbox_redis._keys import lock_key
from hitbox_redis._reads import AsyncReader, ReadResult
from hitbox_redis._sizes import BOUNDED_MGET, SizeLimit
from hitbox_redis._sync_reader import SyncReader

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

__all__ = ["Codec", "RedisBackend"]

_RELEASE_LUA = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
    return redis.call("DEL", KEYS[1])
end
return 0
"""
"""Delete the lock only if it still holds the caller's token (compare-and-delete)."""


_backends: weakref.WeakSet[RedisBackend] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for backend in list(_backends):
        backend._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _milliseconds(seconds: float, what: str) -> int:
    if not seconds > 0:  # also rejects NaN
        raise ValueError(f"{what} must be a positive number of seconds (got {seconds!r})")
    return max(1, math.ceil(seconds * 1000))


def _expiry(seconds: float, what: str) -> tuple[str | int, ...]:
    """The ``SET`` arguments that expire an entry after ``seconds``: ``PX <ms>``, or none
    for ``math.inf`` (an entry kept until evicted or deleted)."""
    if seconds == math.inf:
        return ()
    return ("PX", _milliseconds(seconds, what))


@final
class RedisBackend(Backend):
    """Cache entries in Redis (standalone, Cluster or Sentinel).

    Build it from a config or URL (``RedisBackend.from_url("redis://localhost/0")``), or
    hand it a redis-py client you configured yourself (``RedisBackend(client=...)``; the
    backend then leaves closing that client to you).

    With ``auto_batch`` (the default) the single-key reads of one event-loop turn go out
    as one ``MGET`` and its writes as one pipeline. Values over ``max_value_size`` are
    neither written nor read (see :mod:`hitbox_redis._sizes`).

    Capabilities: ``BatchBackend`` (MGET / pipelines, split per hash slot in cluster
    mode), ``LockingBackend`` (``SET NX PX`` and a compare-and-delete script),
    ``InvalidationBus`` (pub/sub) and ``Healthcheck``.

    Sync callers (``@cache.cached`` on a ``def`` function) read through :meth:`get_sync`,
    a redis-py sync client of its own built on first use (standalone mode with a client
    the backend built; ``sync_reads`` says whether it is available). After ``os.fork``
    the child drops the parent's connections and opens its own.
    """

    is_local = False
    stores_objects = False
    label = "redis"

    def __init__(
        self,
        config: RedisConfig | None = None,
        *,
        client: Redis | RedisCluster | None = None,
        codec: Codec | None = None,
    ) -> None:
        self.config = config if config is not None else RedisConfig()
        self._owns_client = client is None
        self.client: Redis | RedisCluster = (
            client if client is not None else build_client(self.config)
        )
        self._bounds = CallBounds(self.client, self.config)
        self._deadline = self._bounds.deadline
        self._codec: Codec = (
            codec if codec is not None else EnvelopeCodec(self.config.signing_key_bytes())
        )
        self.sizes = SizeLimit(self.config.max_value_size, self)
        """``max_value_size``, and counts of the values refused and found over it."""
        self._reader = AsyncReader(
            self.client,
            codec=self._codec,
            sizes=self.sizes,
            max_batch=self.config.max_batch_size,
            deadline=self._deadline,
            bounded=self._bounds.bounded,
        )
        # An instance attribute, so that a get without batching costs one lookup.
        self._fetch = self._reader.fetch
        self._coalescer: ReadCoalescer[ReadResult] | None = None
        self._writes: PipelineBatcher | None = None
        if self.config.auto_batch:
            self._coalescer = ReadCoalescer(self._fetch, max_batch=self.config.max_batch_size)
            self._writes = PipelineBatcher(self._pipeline, max_batch=self.config.max_batch_size)
        self._release: AsyncScript = self.client.register_script(_RELEASE_LUA)
        self._bus = InvalidationChannel(
            self.config.invalidation_channel,
            uuid.uuid4().hex,
            self.client.publish,
            self._make_pubsub,
        )
        self._closed = False
        # open() is bounded by the client's own timeouts; this only caps the cache's wait.
        self.open_timeout = max(
            1.0,
            self.config.operation_timeout,
            (self.config.socket_connect_timeout + self.config.socket_timeout)
            * (self.config.retries + 1),
        )
        self.sync_reads = self._owns_client and self.config.mode == "standalone"
        """Whether :meth:`get_sync` serves reads (else sync callers go through the loop)."""
        self._sync_reader = SyncReader(self.config, self._codec, self.sizes)
        _backends.add(self)

    @classmethod
    def from_config(cls, config: RedisConfig) -> Self:
        """A backend built from a validated :class:`RedisConfig`."""
        return cls(config)

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> Self:
        """A backend for ``url`` (``redis://``, ``rediss://``, ``redis+cluster://``,
        ``redis+sentinel://``); ``overrides`` set or replace config fields."""
        return cls(RedisConfig.from_url(url, **overrides))

    @property
    def codec(self) -> Codec:
        """The codec entries are stored with (an envelope codec unless one was passed)."""
        return self._codec

    # -- Backend --------------------------------------------------------------------

    async def get(self, key: str) -> CachedValue | None:
        """The entry under ``key`` or ``None``; :class:`hitbox.CorruptEntry` if undecodable."""
        if self._coalescer is not None:
            result = await self._coalescer.get(key)
        else:
            result = (await self._fetch([key]))[0]
        if isinstance(result, CorruptEntry):
            raise CorruptEntry(str(result)) from None
        return result

    async def set(self, key: str, value: CachedValue, ttl: float) -> None:
        """Store ``value`` under ``key`` with ``PX`` = ``ttl`` (the entry's full lifetime;
        no expiry for ``math.inf``)."""
        expiry = _expiry(ttl, "ttl")
        data = self._encode(key, value)
        self._forget(key)
        if data is None:
            await self._write("DEL", key)  # the new value replaces the old one
        else:
            await self._write("SET", key, data, *expiry)
        self._forget(key)

    async def delete(self, key: str) -> None:
        """Remove ``key``."""
        self._forget(key)
        await self._write("DEL", key)
        self._forget(key)

    async def open(self) -> None:
        """Connect now: discover the nodes (cluster mode), ``PING`` (every primary) and
        load the script of multi-key reads (see :mod:`hitbox_redis._sizes`)."""
        await self.ping()
        async with self._bounds.bounded():
            await self.client.script_load(BOUNDED_MGET)

    def get_sync(self, key: str) -> CachedValue | None:
        """:meth:`get` for sync callers, from any thread (one ``GET`` on a sync client;
        :mod:`hitbox_redis._sync_reader`). Only where ``sync_reads`` is true."""
        if not self.sync_reads:
            raise RuntimeError("sync reads need a standalone Redis client built by the backend")
        return self._sync_reader.get(key)

    def _after_fork(self) -> None:
        """In a forked child: forget the parent's connections and pending batches."""
        self._sync_reader.after_fork()
        pool = getattr(self.client, "connection_pool", None)
        if pool is not None:
            pool.reset()
        if self._coalescer is not None:
            self._coalescer = ReadCoalescer(self._fetch, max_batch=self.config.max_batch_size)
        if self._writes is not None:
            self._writes = PipelineBatcher(self._pipeline, max_batch=self.config.max_batch_size)
        self._bounds.after_fork()
        self._reader.after_fork()

    async def aclose(self) -> None:
        """Stop subscriptions and batching; close the clients if the backend built them."""
        if self._closed:
            return
        self._closed = True
        self._sync_reader.close()
        self._bus.close()
        if self._coalescer is not None:
            await self._coalescer.aclose()
        if self._writes is not None:
            await self._writes.aclose()
        if self._owns_client:
            await self.client.aclose()

    # -- BatchBackend ---------------------------------------------------------------

    async def get_many(self, keys: Sequence[str]) -> list[CachedValue | None]:
        """Entries for ``keys`` in order (MGET; one pipeline of MGETs per slot in cluster).

        With auto-batching, a small ``get_many`` joins the reads of the current loop turn.
        """
        if not keys:
            return []
        distinct = list(dict.fromkeys(keys))
        if self._coalescer is not None and len(distinct) <= self.config.max_batch_size:
            fetched = await self._coalescer.get_many(distinct)
        else:
            fetched = await self._fetch(distinct)
        by_key = dict(zip(distinct, fetched, strict=True))
        results: list[CachedValue | None] = []
        for key in keys:
            result = by_key[key]
            if isinstance(result, CorruptEntry):
                raise CorruptEntry(f"entry {key!r}: {result}") from None
            results.append(result)
        return results

    async def set_many(self, items: Mapping[str, tuple[CachedValue, float]]) -> None:
        """Store every ``key -> (value, ttl)`` in one pipeline (split per node in cluster)."""
        if not items:
            return
        commands = [
            (key, _expiry(ttl, f"ttl of {key!r}"), self._encode(key, value))
            for key, (value, ttl) in items.items()
        ]
        for key in items:
            self._forget(key)
        async with self._bounds.bounded():
            pipe = self.client.pipeline(transaction=False)
            for key, expiry, data in commands:
                if data is None:
                    pipe.execute_command("DEL", key)
                else:
                    pipe.execute_command("SET", key, data, *expiry)
            await pipe.execute()
        for key in items:
            self._forget(key)

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Remove every key in ``keys`` (DEL per chunk; per slot in cluster mode)."""
        if not keys:
            return
        for key in keys:
            self._forget(key)
        size = self.config.max_batch_size
        async with self._bounds.bounded():
            for start in range(0, len(keys), size):
                await self.client.delete(*keys[start : start + size])
        for key in keys:
            self._forget(key)

    # -- LockingBackend -------------------------------------------------------------

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        """``SET <lock key> <token> NX PX <ttl>``; the token on success, ``None`` if held."""
        token = secrets.token_urlsafe(16)
        px = _milliseconds(ttl, "lock ttl")
        acquired = await self._write("SET", self.lock_key(key), token, "NX", "PX", px)
        return token if acquired else None

    async def release_lock(self, key: str, token: str) -> None:
        """Delete the lock if ``token`` still owns it (atomic, in a Lua script)."""
        async with self._bounds.bounded():
            await self._release(keys=[self.lock_key(key)], args=[token])

    def lock_key(self, key: str) -> str:
        """The Redis key of ``key``'s lock (same hash slot as ``key``)."""
        return lock_key(key, self.config.lock_prefix)

    # -- InvalidationBus ------------------------------------------------------------

    async def publish_invalidation(
        self, keys: Sequence[str] = (), tags: Sequence[str] = ()
    ) -> None:
        """Publish an invalidation of ``keys`` and ``tags`` to the other instances."""
        async with self._bounds.bounded():
            await self._bus.publish(keys, tags)

    def subscribe_invalidations(self) -> AsyncIterator[Invalidation]:
        """Invalidations published by other instances, until :meth:`aclose`.

        The subscription reconnects by itself; messages published while it is
        disconnected are lost (pub/sub keeps no history).
        """
        return self._bus.subscribe()

    @property
    def origin(self) -> str:
        """This instance's identity on the invalidation bus."""
        return self._bus.origin

    # -- Healthcheck ----------------------------------------------------------------

    async def ping(self) -> bool:
        """``PING`` (every primary in cluster mode); raises if the server does not answer."""
        async with self._bounds.bounded():
            if isinstance(self.client, RedisCluster):
                await self.client.ping(target_nodes=RedisCluster.PRIMARIES)
            else:
                await self.client.ping()
        return True

    # -- internals ------------------------------------------------------------------

    def _encode(self, key: str, value: CachedValue) -> bytes | None:
        """The bytes to store, or ``None`` (reported) if over ``max_value_size``."""
        limit = self.sizes.limit
        # An envelope is never smaller than its payload: a payload over the limit is
        # refused before copying it into one (tens of milliseconds for 32 MB).
        if type(self._codec) is EnvelopeCodec and len(value.data) > limit:
            self.sizes.refuse(key, len(value.data))
            return None
        data = self._codec.encode(value, key)
        if len(data) > limit:
            self.sizes.refuse(key, len(data))
            return None
        return data

    def _forget(self, key: str) -> None:
        if self._coalescer is not None:
            self._coalescer.forget(key)

    async def _command(self, *args: Any) -> Any:
        if self._deadline is None:
            return await self.client.execute_command(*args)
        async with self._bounds.bounded():
            return await self.client.execute_command(*args)

    async def _write(self, *args: Any) -> Any:
        """A write, pipelined with the other writes of this loop turn when batching is on."""
        if self._writes is None:
            return await self._command(*args)
        return await self._writes.run(*args)

    async def _pipeline(self, commands: list[Command]) -> list[Any]:
        """Send ``commands`` in one pipeline; a failed command's error is its own result."""
        if len(commands) == 1:
            return [await self._command(*commands[0])]
        async with self._bounds.bounded():
            pipe = self.client.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            return list(await pipe.execute(raise_on_error=False))

    async def _make_pubsub(self, attempt: int) -> Any:
        if isinstance(self.client, RedisCluster):
            async with self._bounds.bounded():  # discovers the nodes on first use
                pass
            nodes = self.client.get_nodes()
            node = nodes[attempt % len(nodes)] if nodes else None
            return self.client.pubsub(node=node, ignore_subscribe_messages=True)
        return self.client.pubsub(ignore_subscribe_messages=True)
