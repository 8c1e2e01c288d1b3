"""Connections with a lean request path for the hit path's single-key read.

redis-py sends every command through ``Redis.execute_command``: a retry wrapper, metric
hooks, a write wrapped in ``asyncio.wait_for`` -- on Python 3.11 a whole task and an
extra loop turn per command -- and a read under its own ``asyncio.timeout``. Together
that is about a third of a loopback ``GET``. :meth:`DirectConnection.get` sends its read
and reads the reply with none of that: the socket timeout still bounds the
exchange, but through a shared :class:`hitbox.backend._deadlines.Deadlines` timer, and the errors
are redis-py's own (``ConnectionError``, ``TimeoutError``), with the connection dropped
after any failure or cancellation, as redis-py does, so no stale reply is ever read.

The read is ``GETRANGE key 0 <limit>`` (``limit`` = the backend's ``max_value_size``), not
``GET``: it answers like ``GET`` for values up to the limit, but never makes the server
copy more than ``limit + 1`` bytes of a larger one (``GET`` of 50 MB stalls Redis for
tens of milliseconds -- for every client). On the lean path the reply is read here, not
by redis-py's parser: its length comes first (``$<length>``), so a value over the limit
is known before its body arrives, and the connection is then dropped rather than read.
A missing key reads as an empty string, which no stored entry ever is.

Everything else (pipelines, writes, scripts, pub/sub) keeps redis-py's own path.

This module is the one place where hitbox reaches into redis-py's private internals (the
connection's ``_writer`` and ``_reader`` streams). :data:`LEAN_PATH`
checks once, at import, that they are what it expects; when they are not (another
redis-py release), :meth:`DirectConnection.get` falls back to redis-py's public
``send_packed_command`` and ``read_response``, still under the shared deadline.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Final

from hitbox.backend import Deadlines
from redis._parsers.base import BaseParser
from redis.asyncio.connection import Connection, SSLConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = [
    "LEAN_PATH",
    "DirectConnection",
    "DirectSSLConnection",
    "lean_path_supported",
    "pack_read",
]


def lean_path_supported(connection_class: type[Any] = Connection) -> bool:
    """Whether ``connection_class`` (redis-py's asyncio ``Connection``) keeps its streams
    in ``_writer`` and ``_reader`` and lets ``read_response`` take a ``timeout``: what
    the lean path relies on."""
    try:
        probe = connection_class()
        parameters = inspect.signature(connection_class.read_response).parameters
    except Exception:
        return False
    return hasattr(probe, "_writer") and hasattr(probe, "_reader") and "timeout" in parameters


LEAN_PATH: Final = lean_path_supported()
"""Whether this redis-py's internals are what the lean path expects (checked once)."""


def pack_read(key: str, limit: int, encoder: Any) -> bytes:
    """``GETRANGE key 0 limit`` in RESP, as ``pack_command`` joins it, at a fraction of its
    cost."""
    raw = key.encode(encoder.encoding, encoder.encoding_errors)
    end = b"%d" % limit
    return b"*4\r\n$8\r\nGETRANGE\r\n$%d\r\n%b\r\n$1\r\n0\r\n$%d\r\n%b\r\n" % (
        len(raw),
        raw,
        len(end),
        end,
    )


class DirectConnection(Connection):
    """A redis-py connection that can also read one key on the lean path."""

    lean: bool = LEAN_PATH
    """Use the private stream writer (else redis-py's public send and read)."""

    async def get(self, deadlines: Deadlines, key: str, limit: int) -> bytes | int | None:
        """The value under ``key``: its bytes, ``None`` if absent, or -- for a value over
        ``limit`` bytes, left unread -- ``limit + 1``. Bounded by ``socket_timeout``.

        A dropped pooled socket (a restarted server) raises ``ConnectionError``; the
        connection then reconnects and tries again, ``retry.get_retries()`` times.
        """
        packed = [pack_read(key, limit, self.encoder)]
        retries = self.retry.get_retries()
        attempt = 0
        while True:
            try:
                return await self._exchange(deadlines, packed, limit)
            except RedisConnectionError:
                await self.disconnect()
                if attempt >= retries:
                    raise
                attempt += 1

    async def _exchange(
        self, deadlines: Deadlines, packed: list[bytes], limit: int
    ) -> bytes | int | None:
        if not self.is_connected:  # bounded by the connect and socket timeouts themselves
            await self.connect_check_health(check_health=False)
        if self.health_check_interval:
            await self.check_health()  # type: ignore[no-untyped-call]
        timeout = self.socket_timeout
        if not timeout:
            return await self._send_and_read(packed, limit)
        try:
            return await deadlines.bound(self._send_and_read(packed, limit), timeout)
        except TimeoutError:  # the builtin one: the deadline cancelled the exchange
            raise RedisTimeoutError(f"Timeout reading from {self.host}:{self.port}") from None

    async def _send_and_read(self, packed: list[bytes], limit: int) -> bytes | int | None:
        if not self.lean:  # redis-py's public path: the same exchange, a little slower
            await self.send_packed_command(packed, check_health=False)
            reply = await self.read_response()
            if not reply:
                return None
            return len(reply) if len(reply) > limit else bytes(reply)
        writer, reader = self._writer, self._reader
        if writer is None or reader is None:
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
        # No per-read timer: the caller's deadline bounds the call.
        try:
            return await self._read_bulk(reader, limit)
        except asyncio.IncompleteReadError:
            await self.disconnect(nowait=True)
            raise RedisConnectionError(
                f"Connection to {self.host}:{self.port} closed by server"
            ) from None
        except BaseException:  # cancelled or garbled mid-reply: the rest is unread
            await self.disconnect(nowait=True)
            raise

    async def _read_bulk(self, reader: asyncio.StreamReader, limit: int) -> bytes | int | None:
        """The ``GETRANGE`` reply: a bulk string (``$<n>``; empty: no such key) or an
        error; a bulk string over ``limit`` is not read (the connection is dropped)."""
        line = await reader.readuntil(b"\r\n")
        kind = line[:1]
        if kind == b"$":
            size = int(line[1:-2])
            if size < 0:
                return None
            if size == 0:  # no such key (no entry is empty)
                await reader.readexactly(2)
                return None
            if size > limit:
                await self.disconnect(nowait=True)
                return size
            body = await reader.readexactly(size + 2)
            return body[:-2]
        if kind == b"-":
            raise BaseParser.parse_error(line[1:-2].decode(errors="replace"))  # type: ignore[no-untyped-call]
        await self.disconnect(nowait=True)
        raise RedisConnectionError(f"unexpected reply to GETRANGE: {bytes(line[:40])!r}")


class DirectSSLConnection(SSLConnection, DirectConnection):
    """:class:`DirectConnection` over TLS."""
