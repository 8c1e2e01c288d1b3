"""The hit path of sync callers: one bounded read on a redis-py sync client, from any thread.

A sync cached function (``@cache.cached`` on a ``def``) reads the backend in its own
thread before it involves the cache's event loop; for Redis that read is one
``GETRANGE key 0 <max_value_size>`` (as on the async lean path: a value over the limit is
never transferred whole, it is a miss) on a redis-py sync connection, sent and read with
the connection's public methods, so a sync hit costs less than redis-py's own
``Redis.get`` plus the envelope's decoding. The client is built on first use with the
async client's timeouts, retry policy and pool bound
(:func:`hitbox_redis._client.build_sync_client`); its pool is thread-safe and, after
``os.fork``, drops the parent's connections itself.
"""

from __future__ import annotations

import threading
from typing import Any, final

import redis
from hitbox import CachedValue
from hitbox.codec import Codec
from redis.exceptions import ConnectionError as RedisConnectionError

from hitbox_redis._client import build_sync_client
from hitbox_redis._config import RedisConfig
from hitbox_redis._connection import pack_read
from hitbox_redis._sizes import SizeLimit

__all__ = ["SyncReader"]


@final
class SyncReader:
    """Reads single entries for sync callers; built lazily, closed by :meth:`close`."""

    __slots__ = ("_client", "_closed", "_codec", "_config", "_lock", "_sizes")

    def __init__(self, config: RedisConfig, codec: Codec, sizes: SizeLimit) -> None:
        self._config = config
        self._codec = codec
        self._sizes = sizes
        self._client: redis.Redis | None = None
        self._lock = threading.Lock()
        self._closed = False

    def get(self, key: str) -> CachedValue | None:
        """The entry under ``key`` or ``None``; :class:`hitbox.CorruptEntry` if undecodable."""
        client = self._client
        if client is None:
            client = self._open()
        pool = client.connection_pool
        connection = pool.get_connection()
        try:
            data = self._exchange(connection, key)
        finally:
            pool.release(connection)
        if not data:  # GETRANGE answers an empty string for a missing key
            return None
        if len(data) > self._sizes.limit:  # over max_value_size: its bytes stay unread
            self._sizes.found_stored(key, len(data))
            return None
        return self._codec.decode(data, key)

    def _exchange(self, connection: Any, key: str) -> Any:
        """``GETRANGE key 0 limit`` on ``connection`` with redis-py's public send and read
        (neither its retry wrapper nor its metric hooks: most of a loopback read's Python
        time).
        A dropped pooled socket (a restarted server) is retried ``retries`` times, as
        redis-py's retry policy does; redis-py drops the connection after any error."""
        packed = [pack_read(key, self._sizes.limit, connection.encoder)]
        check_health = bool(connection.health_check_interval)
        attempt = 0
        while True:
            try:
                connection.send_packed_command(packed, check_health=check_health)
                return connection.read_response()
            except RedisConnectionError:
                connection.disconnect()
                if attempt >= self._config.retries:
                    raise
                attempt += 1

    def _open(self) -> redis.Redis:
        with self._lock:
            if self._closed:
                raise RuntimeError("the Redis backend is closed")
            if self._client is None:
                self._client = build_sync_client(self._config)
            return self._client

    def after_fork(self) -> None:
        """In a forked child: a fresh lock (the pool resets its connections itself)."""
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the client's connections; later reads raise. Idempotent."""
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
        if client is not None:
            client.close()
