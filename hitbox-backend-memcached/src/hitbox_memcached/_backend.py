"""The memcached backend, on the emcache asyncio client.

One emcache client serves every configured server: it spreads keys by rendezvous
hashing, bounds each operation by ``timeout`` and reconnects in the background, so a
dead server turns into prompt exceptions (which the cache answers with an upstream
call) and, once it is back, into hits again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, final

from hitbox import Backend, CachedValue, RateLimitedLogger, emit_backend_event
from hitbox.codec import EnvelopeCodec

from hitbox_memcached._config import MemcachedConfig
from hitbox_memcached._keys import ENTRY, LOCK, encode_key

if TYPE_CHECKING:
    import emcache

__all__ = ["MemcachedBackend", "OversizedCallback"]

logger = logging.getLogger("hitbox_memcached")

OversizedCallback = Callable[[str, int], None]
"""Called with ``(key, entry_size)`` when an entry is too large to cache."""

# memcached reads exptime above 30 days as an absolute unix time.
_RELATIVE_LIMIT: Final = 60 * 60 * 24 * 30
# A negative exptime expires the item at once. The text protocol has no conditional
# delete, so a "cas" with it drops a lock only if the lock is still ours.
_EXPIRE_NOW: Final = -1
# Per-item bookkeeping memcached counts against the item size limit (header, CAS, CRLF).
_ITEM_OVERHEAD: Final = 64
_TOO_LARGE: Final = "too large"


def _exptime(ttl: float) -> int:
    """memcached's exptime for ``ttl`` seconds: whole seconds, rounded up, at least 1;
    0 (no expiry) for ``math.inf``."""
    if ttl == math.inf:
        return 0
    seconds = max(1, math.ceil(ttl))
    if seconds > _RELATIVE_LIMIT:
        return int(time.time()) + seconds
    return seconds


@final
class MemcachedBackend(Backend):
    """Cache entries on one or more memcached servers.

    Entries are :class:`hitbox.EnvelopeCodec` envelopes under keys made safe by
    :func:`hitbox_memcached._keys.encode_key`. Entries too large for the servers are not
    cached: the previous entry under the key is removed, a warning is logged and
    ``on_oversized(key, size)`` is called — the write itself does not fail. Implements
    :class:`hitbox.BatchBackend`, :class:`hitbox.LockingBackend` and
    :class:`hitbox.Healthcheck`.

    The client connects on first use, inside the running event loop; used from another
    event loop later, the backend connects afresh there.
    """

    def __init__(
        self,
        servers: Sequence[str] = ("127.0.0.1:11211",),
        *,
        key_prefix: str = "",
        timeout: float = 1.0,
        connect_timeout: float = 1.0,
        max_connections: int = 4,
        max_item_size: int = 1024 * 1024,
        eject_unhealthy: bool = False,
        autobatching: bool = False,
        signing_key: bytes | None = None,
        codec: EnvelopeCodec | None = None,
        on_oversized: OversizedCallback | None = None,
    ) -> None:
        self._config = MemcachedConfig.validated(
            {
                "servers": tuple(servers),
                "key_prefix": key_prefix,
                "timeout": timeout,
                "connect_timeout": connect_timeout,
                "max_connections": max_connections,
                "max_item_size": max_item_size,
                "eject_unhealthy": eject_unhealthy,
                "autobatching": autobatching,
            }
        )
        self._codec = codec if codec is not None else EnvelopeCodec(signing_key=signing_key)
        self._prefix = key_prefix
        self._on_oversized = on_oversized
        self._client: emcache.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connecting: asyncio.Future[emcache.Client] | None = None
        self._closed = False
        self.oversized_skipped = 0
        """How many entries were too large to cache since the backend was created."""
        # A workload of large values would otherwise log on every write.
        self._warnings = RateLimitedLogger(logger)
        # open() is bounded by the client's own timeouts; this only caps the cache's wait.
        self.open_timeout = connect_timeout + timeout

    @classmethod
    def from_config(cls, config: MemcachedConfig) -> MemcachedBackend:
        """Build a backend from a validated :class:`MemcachedConfig`."""
        backend = cls(
            config.servers,
            key_prefix=config.key_prefix,
            timeout=config.timeout,
            connect_timeout=config.connect_timeout,
            max_connections=config.max_connections,
            max_item_size=config.max_item_size,
            eject_unhealthy=config.eject_unhealthy,
            autobatching=config.autobatching,
            signing_key=config.signing_key_bytes(),
        )
        backend._config = config  # keeps the signing key, which __init__ takes as bytes
        return backend

    @property
    def config(self) -> MemcachedConfig:
        """The validated settings of this backend."""
        return self._config

    @property
    def codec(self) -> EnvelopeCodec:
        """The codec entries are stored with (an envelope codec unless one was passed)."""
        return self._codec

    def __repr__(self) -> str:
        return f"MemcachedBackend(servers={list(self._config.servers)!r})"

    # -- the client -------------------------------------------------------------------

    async def _get_client(self) -> emcache.Client:
        client = self._client
        loop = asyncio.get_running_loop()
        if client is not None and loop is self._loop:
            return client
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        if loop is not self._loop:
            # emcache's connections belong to the loop that made them; a new loop (another
            # asyncio.run) gets a new client. The old loop's sockets went with that loop.
            self._loop = loop
            self._client = None
            self._connecting = None
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._create_client())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        except BaseException:
            if self._connecting is connecting and connecting.done():
                self._connecting = None  # let the next call try again
            raise

    async def _create_client(self) -> emcache.Client:
        import emcache

        config = self._config
        client = await emcache.create_client(
            [emcache.MemcachedHostAddress(host, port) for host, port in config.addresses()],
            timeout=config.timeout,
            connection_timeout=config.connect_timeout,
            max_connections=config.max_connections,
            purge_unhealthy_nodes=config.eject_unhealthy,
            autobatching=config.autobatching,
        )
        if self._closed:
            await client.close()
            raise RuntimeError(f"{self!r} is closed")
        self._client = client
        return client

    async def open(self) -> None:
        """Connect now: create the client and ask every server for its ``version``."""
        await self.ping()

    def _key(self, key: str, kind: str = ENTRY) -> bytes:
        return encode_key(key, self._prefix, kind)

    # -- Backend ----------------------------------------------------------------------

    async def get(self, key: str) -> CachedValue | None:
        """The entry under ``key``, or ``None``; :class:`hitbox.CorruptEntry` if garbled."""
        client = await self._get_client()
        if self._config.autobatching:
            # emcache leaves an autobatched read waiting forever if its batch fails with
            # anything but a timeout (a reset connection): bound it here.
            async with asyncio.timeout(self._config.timeout):
                item = await client.get(self._key(key))
        else:
            item = await client.get(self._key(key))
        return None if item is None else self._codec.decode(item.value, key)

    async def set(self, key: str, value: CachedValue, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (rounded up to whole seconds)."""
        client = await self._get_client()
        await self._store(client, key, self._codec.encode(value, key), ttl)

    async def _store(self, client: emcache.Client, key: str, envelope: bytes, ttl: float) -> None:
        import emcache

        stored_key = self._key(key)
        size = len(stored_key) + len(envelope) + _ITEM_OVERHEAD
        if size > self._config.max_item_size:
            await self._skip_oversized(client, key, stored_key, size)
            return
        try:
            await client.set(stored_key, envelope, exptime=_exptime(ttl))
        except emcache.StorageCommandError as exc:
            # The server's limit (memcached -I) may be lower than max_item_size says.
            if _TOO_LARGE not in str(exc):
                raise
            await self._skip_oversized(client, key, stored_key, size)

    async def _skip_oversized(
        self, client: emcache.Client, key: str, stored_key: bytes, size: int
    ) -> None:
        self.oversized_skipped += 1
        self._warnings.warning(
            "oversized",
            "not caching %r: entry of %d bytes exceeds the memcached item size limit "
            "(max_item_size=%d)",
            key,
            size,
            self._config.max_item_size,
        )
        emit_backend_event(
            "oversized", self.label or "memcached", key, size=size, limit=self._config.max_item_size
        )
        if self._on_oversized is not None:
            self._on_oversized(key, size)
        # The new value replaces the old one even when it cannot be stored.
        await self._delete(client, stored_key)

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is fine."""
        client = await self._get_client()
        await self._delete(client, self._key(key))

    @staticmethod
    async def _delete(client: emcache.Client, stored_key: bytes) -> None:
        import emcache

        with contextlib.suppress(emcache.NotFoundCommandError):
            await client.delete(stored_key)

    async def aclose(self) -> None:
        """Close every connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        client, self._client = self._client, None
        connecting, self._connecting = self._connecting, None
        if self._loop is not asyncio.get_running_loop():
            return  # the client's event loop is gone, and its sockets with it
        if client is None and connecting is not None:
            try:
                client = await connecting
            except Exception:
                client = None
        if client is not None and not client.closed:
            await client.close()

    # -- BatchBackend -----------------------------------------------------------------

    async def get_many(self, keys: Sequence[str]) -> list[CachedValue | None]:
        """Entries for ``keys`` in order, ``None`` where missing: one ``get`` per server."""
        if not keys:
            return []
        client = await self._get_client()
        stored_keys = [self._key(key) for key in keys]
        items = await client.get_many(list(dict.fromkeys(stored_keys)))
        results: list[CachedValue | None] = []
        for key, stored_key in zip(keys, stored_keys, strict=True):
            item = items.get(stored_key)
            results.append(None if item is None else self._codec.decode(item.value, key))
        return results

    async def set_many(self, items: Mapping[str, tuple[CachedValue, float]]) -> None:
        """Store each ``key -> (value, ttl)``, concurrently (memcached has no multi-set)."""
        if not items:
            return
        client = await self._get_client()
        await asyncio.gather(
            *(
                self._store(client, key, self._codec.encode(value, key), ttl)
                for key, (value, ttl) in items.items()
            )
        )

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Remove every key in ``keys``, concurrently."""
        if not keys:
            return
        client = await self._get_client()
        await asyncio.gather(*(self._delete(client, self._key(key)) for key in set(keys)))

    # -- LockingBackend ---------------------------------------------------------------

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        """Take the lease on ``key`` with ``add`` (atomic insert-if-absent) for ``ttl`` s."""
        import emcache

        client = await self._get_client()
        token = secrets.token_hex(16)
        try:
            await client.add(self._key(key, LOCK), token.encode(), exptime=_exptime(ttl))
        except emcache.NotStoredStorageCommandError:
            return None
        return token

    async def release_lock(self, key: str, token: str) -> None:
        """Release the lease on ``key`` if ``token`` still owns it (``gets`` then ``cas``)."""
        import emcache

        client = await self._get_client()
        lock_key = self._key(key, LOCK)
        item = await client.gets(lock_key)
        if item is None or item.value != token.encode() or item.cas is None:
            return
        # A StorageCommandError means it changed or expired since the gets: not ours.
        with contextlib.suppress(emcache.StorageCommandError):
            await client.cas(lock_key, b"", item.cas, exptime=_EXPIRE_NOW)

    # -- Healthcheck ------------------------------------------------------------------

    async def ping(self) -> bool:
        """True when every server answers ``version``; raises for the first that does not."""
        import emcache

        client = await self._get_client()
        await asyncio.gather(
            *(
                client.version(emcache.MemcachedHostAddress(host, port))
                for host, port in self._config.addresses()
            )
        )
        return True

    async def server_stats(self) -> dict[str, dict[str, Any]]:
        """memcached ``stats`` of every server, keyed by ``host:port``."""
        import emcache

        client = await self._get_client()
        addresses = self._config.addresses()
        stats = await asyncio.gather(
            *(client.stats(emcache.MemcachedHostAddress(host, port)) for host, port in addresses)
        )
        return {f"{host}:{port}": dict(s) for (host, port), s in zip(addresses, stats, strict=True)}
