"""Connections with a lean request path for the hit path's single ``GET``.

redis-py sends every command through ``Redis.execute_command``: a retry wrapper, metric
hooks, a write wrapped in ``asyncio.wait_for`` -- on Python 3.11 a whole task and an
extra loop turn per command -- and a read under its own ``asyncio.timeout``. Together
that is about a third of a loopback ``GET``. :meth:`DirectConnection.get` sends a ``GET``
and reads its reply with none of that: the socket timeout still bounds the
exchange, but through a shared :class:`hitbox.backend._deadlines.Deadlines` timer, and the errors
are redis-py's own (``ConnectionError``, ``TimeoutError``), with the connection dropped
after any failure or cancellation, as redis-py does, so no stale reply is ever read.

Everything else (pipelines, writes, scripts, pub/sub) keeps redis-py's own path.

This module is the one place where hitbox reaches into redis-py's private internals (the
connection's ``_writer`` stream and ``read_response(timeout=...)``). :data:`LEAN_PATH`
checks once, at import, that they are what it expects; when they are not (another
redis-py release), :meth:`DirectConnection.get` falls back to redis-py's public
``send_packed_command`` and ``read_response``, still under the shared deadline.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Final

from hitbox.backend import Deadlines
from redis.asyncio.connection import Connection, SSLConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = [
    "LEAN_PATH",
    "DirectConnection",
    "DirectSSLConnection",
    "lean_path_supported",
    "pack_get",
]


def lean_path_supported(connection_class: type[Any] = Connection) -> bool:
    """Whether ``connection_class`` (redis-py's asyncio ``Connection``) keeps its stream
    writer in ``_writer`` and lets ``read_response`` take a ``timeout``: what the lean
    path relies on."""
    try:
        probe = connection_class()
        parameters = inspect.signature(connection_class.read_response).parameters
    except Exception:
        return False
    return hasattr(probe, "_writer") and "timeout" in parameters


LEAN_PATH: Final = lean_path_supported()
"""Whether this redis-py's internals are what the lean path expects (checked once)."""


def pack_get(key: str, encoder: Any) -> bytes:
    """``GET key`` in RESP, as ``pack_command("GET", key)`` joins it, at an eighth of its cost."""
    raw = key.encode(encoder.encoding, encoder.encoding_errors)
    return b"*2\r\n$3\r\nGET\r\n$%d\r\n%b\r\n" % (len(raw), raw)


class DirectConnection(Connection):
    """A redis-py connection that can also run a ``GET`` on the lean path."""

    lean: bool = LEAN_PATH
    """Use the private stream writer (else redis-py's public send and read)."""

    async def get(self, deadlines: Deadlines, key: str) -> Any:
        """``GET key``: the value's bytes or ``None``; bounded by ``socket_timeout``.

        A dropped pooled socket (a restarted server) raises ``ConnectionError``; the
        connection then reconnects and tries again, ``retry.get_retries()`` times.
        """
        packed = [pack_get(key, self.encoder)]
        retries = self.retry.get_retries()
        attempt = 0
        while True:
            try:
                return await self._exchange(deadlines, packed)
            except RedisConnectionError:
                await self.disconnect()
                if attempt >= retries:
                    raise
                attempt += 1

    async def _exchange(self, deadlines: Deadlines, packed: list[bytes]) -> Any:
        if not self.is_connected:  # bounded by the connect and socket timeouts themselves
            await self.connect_check_health(check_health=False)
        if self.health_check_interval:
            await self.check_health()  # type: ignore[no-untyped-call]
        timeout = self.socket_timeout
        if not timeout:
            return await self._send_and_read(packed)
        try:
            return await deadlines.bound(self._send_and_read(packed), timeout)
        except TimeoutError:  # the builtin one: the deadline cancelled the exchange
            raise RedisTimeoutError(f"Timeout reading from {self.host}:{self.port}") from None

    async def _send_and_read(self, packed: list[bytes]) -> Any:
        if not self.lean:  # redis-py's public path: the same exchange, a little slower
            await self.send_packed_command(packed, check_health=False)
            return await self.read_response()
        writer = self._writer
        if writer is None:
            raise RedisConnectionError(f"Connection to {self.host}:{self.port} closed")
        try:
            writer.writelines(packed)
            await writer.drain()
        except OSError as exc:
            await self.disconnect(nowait=True)
            raise RedisConnectionError(f"Error while writing to socket: {exc}") from exc
        except BaseException:  # cancelled mid-write: the command may be half sent
            await self.disconnect(nowait=True)
            raise
        # No per-read timer (the caller's deadline bounds the call); read_response
        # drops the connection itself after any error or cancellation.
        return await self.read_response(timeout=math.inf)


class DirectSSLConnection(SSLConnection, DirectConnection):
    """:class:`DirectConnection` over TLS."""
