"""The wire format: length-prefixed frames carrying requests and responses.

::

    frame    = length:u32 payload[length]        (big-endian; payload <= MAX_FRAME)
    request  = id:u32 op:u8 body                  op: GET=1, PING=2, INVALIDATE=3
    response = id:u32 status:u8 body              status: OK=0, NOT_FOUND=1, ERROR=2,
                                                          BAD_REQUEST=3

``GET`` asks for the value of the key in ``body``; ``INVALIDATE`` drops it from the
server's cache. A response carries the id of its request: a client may pipeline many
requests on one connection and the server answers each as soon as it is ready, in any
order. This module knows nothing about caching.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import struct
from typing import Final, final

__all__ = [
    "MAX_FRAME",
    "Client",
    "Op",
    "ProtocolError",
    "Status",
    "decode",
    "encode",
    "read_frame",
]

MAX_FRAME: Final = 1 << 20
_HEADER: Final = struct.Struct(">IB")  # id, op or status
_LENGTH: Final = struct.Struct(">I")


class Op(enum.IntEnum):
    """What a request asks for."""

    GET = 1
    PING = 2
    INVALIDATE = 3


class Status(enum.IntEnum):
    """How a request went."""

    OK = 0
    NOT_FOUND = 1
    ERROR = 2
    BAD_REQUEST = 3


class ProtocolError(Exception):
    """Bytes that do not follow the protocol."""


def encode(message_id: int, code: int, body: bytes = b"") -> bytes:
    """One frame: a request (``code`` is an op) or a response (``code`` is a status)."""
    payload = _HEADER.pack(message_id, code) + body
    if len(payload) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(payload)} bytes exceeds {MAX_FRAME}")
    return _LENGTH.pack(len(payload)) + payload


def decode(payload: bytes) -> tuple[int, int, bytes]:
    """``(id, op or status, body)`` of a frame's payload."""
    if len(payload) < _HEADER.size:
        raise ProtocolError(f"payload of {len(payload)} bytes is shorter than its header")
    message_id, code = _HEADER.unpack_from(payload)
    return message_id, code, payload[_HEADER.size :]


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """The next frame's payload; :class:`asyncio.IncompleteReadError` at end of stream."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    if length > MAX_FRAME:
        raise ProtocolError(f"frame length {length} exceeds {MAX_FRAME}")
    return await reader.readexactly(length)


@final
class Client:
    """A pipelining client: many requests in flight on one connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[tuple[Status, bytes]]] = {}
        self._receiver = asyncio.create_task(self._receive())

    @classmethod
    async def connect(cls, host: str, port: int) -> Client:
        """Open a connection to a server."""
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, op: Op, body: bytes = b"") -> tuple[Status, bytes]:
        """Send one request and wait for its response: ``(status, body)``."""
        message_id = next(self._ids)
        future: asyncio.Future[tuple[Status, bytes]] = asyncio.get_running_loop().create_future()
        self._waiting[message_id] = future
        self._writer.write(encode(message_id, op, body))
        await self._writer.drain()
        return await future

    async def _receive(self) -> None:
        try:
            while True:
                message_id, status, body = decode(await read_frame(self._reader))
                future = self._waiting.pop(message_id, None)
                if future is not None and not future.done():
                    future.set_result((Status(status), body))
        except (asyncio.IncompleteReadError, ConnectionError, ProtocolError) as exc:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"connection lost: {exc!r}"))
            self._waiting.clear()

    async def aclose(self) -> None:
        """Close the connection."""
        self._receiver.cancel()
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
