"""Demonstration on loopback: ``python -m examples.binary_protocol``."""

from __future__ import annotations

import asyncio

import hitbox

from .protocol import Client, Op
from .server import CachingServer

PRICES = {b"apple": b"1.20", b"pear": b"0.80"}


async def lookup(key: bytes) -> bytes | None:
    """The slow source of truth the cache sits in front of."""
    await asyncio.sleep(0.05)
    return PRICES.get(key)


async def main() -> None:
    async with hitbox.Cache("memory") as cache:
        server = await CachingServer(cache, lookup, ttl=30).start()
        client = await Client.connect("127.0.0.1", server.sockets[0].getsockname()[1])
        for key in (b"apple", b"apple", b"plum", b"pear"):
            status, body = await client.request(Op.GET, key)
            print(key.decode(), status.name, body.decode())
        await client.aclose()
        server.close()
        await server.wait_closed()
        print(cache.stats())


asyncio.run(main())
