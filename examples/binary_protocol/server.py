"""The glue: a server for the binary protocol that answers ``GET`` through a Hitbox cache.

The server's real work is ``lookup(key) -> bytes | None`` (a database, a computation);
:class:`Lookup` turns a ``GET`` into a :class:`hitbox.CacheableRequest`, so concurrent
identical requests (from any connection) make one lookup, and answers are served from
the cache for ``ttl`` seconds. ``None`` (not found) is not cached, per the cache's
``cache_none`` policy. If the backend fails, lookups answer: the cache fails open.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable
from typing import final

import hitbox

from .protocol import Op, ProtocolError, Status, decode, encode, read_frame

__all__ = ["CachingServer", "Lookup"]


@final
class Lookup:
    """A ``GET`` as a :class:`hitbox.CacheableRequest`."""

    __slots__ = ("key", "ttl")

    def __init__(self, key: bytes, ttl: float) -> None:
        self.key, self.ttl = key, ttl

    def cache_key(self) -> str:
        return f"binproto:get:{hashlib.blake2b(self.key, digest_size=16).hexdigest()}"

    def cache_ttl(self) -> float:
        return self.ttl


@final
class CachingServer:
    """Serves the protocol; ``GET`` goes through ``cache`` to ``lookup``."""

    def __init__(
        self,
        cache: hitbox.Cache,
        lookup: Callable[[bytes], Awaitable[bytes | None]],
        *,
        ttl: float = 60.0,
    ) -> None:
        self.cache, self.lookup, self.ttl = cache, lookup, ttl

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
        """Listen (port 0: any free port) and return the asyncio server."""
        return await asyncio.start_server(self.handle, host, port)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: answer each request in its own task, as soon as it is ready."""
        answering: set[asyncio.Task[None]] = set()
        try:
            while True:
                payload = await read_frame(reader)
                task = asyncio.create_task(self._answer(payload, writer))
                answering.add(task)
                task.add_done_callback(answering.discard)
        except (asyncio.IncompleteReadError, ConnectionError, ProtocolError):
            pass  # end of stream, or a peer we cannot frame: hang up
        finally:
            await asyncio.gather(*answering, return_exceptions=True)
            writer.close()  # not awaited: a server shutting down may cancel this task

    async def _answer(self, payload: bytes, writer: asyncio.StreamWriter) -> None:
        try:
            message_id, op, body = decode(payload)
        except ProtocolError as exc:  # too short to carry an id: answer as id 0
            message_id, status, answer = 0, Status.BAD_REQUEST, str(exc).encode()
        else:
            status, answer = await self._respond(op, body)
        writer.write(encode(message_id, status, answer))  # one write per frame: no interleaving
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def _respond(self, op: int, body: bytes) -> tuple[Status, bytes]:
        if op == Op.PING:
            return Status.OK, b"pong"
        if op == Op.INVALIDATE:
            await self.cache.invalidate(Lookup(body, self.ttl).cache_key())
            return Status.OK, b""
        if op != Op.GET:
            return Status.BAD_REQUEST, f"unknown op {op}".encode()
        try:
            value = await self.cache.fetch(Lookup(body, self.ttl), self._lookup)
        except Exception as exc:  # the lookup failed: tell the client, keep serving
            return Status.ERROR, f"{type(exc).__name__}: {exc}".encode()
        return (Status.NOT_FOUND, b"") if value is None else (Status.OK, value)

    async def _lookup(self, request: Lookup) -> bytes | None:
        return await self.lookup(request.key)
