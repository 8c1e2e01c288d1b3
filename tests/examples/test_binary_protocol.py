"""The binary-protocol example: a real asyncio server and client on loopback."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import hitbox
import pytest
from hitbox_memory import MemoryBackend

from examples.binary_protocol import CachingServer, Client, Op, Status
from examples.binary_protocol.protocol import MAX_FRAME
from tests.examples._helpers import until
from tests.observability.conftest import FailingBackend


class Store:
    """The server's slow source of truth; ``gates`` hold lookups of chosen keys."""

    def __init__(self) -> None:
        self.data = {b"apple": b"1.20", b"pear": b"0.80"}
        self.lookups: list[bytes] = []
        self.gates: dict[bytes, asyncio.Event] = {}

    async def lookup(self, key: bytes) -> bytes | None:
        self.lookups.append(key)
        if key in self.gates:
            await self.gates[key].wait()
        if key == b"boom":
            raise LookupError("database unavailable")
        return self.data.get(key)


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def cache() -> hitbox.Cache:
    return hitbox.Cache(MemoryBackend(max_entries=100), policy={"ttl": 60})


@pytest.fixture
async def port(store: Store, cache: hitbox.Cache) -> AsyncIterator[int]:
    server = await CachingServer(cache, store.lookup, ttl=30).start()
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@pytest.fixture
async def client(port: int) -> AsyncIterator[Client]:
    client = await Client.connect("127.0.0.1", port)
    yield client
    await client.aclose()


async def test_get_is_cached(client: Client, store: Store, cache: hitbox.Cache) -> None:
    assert await client.request(Op.PING) == (Status.OK, b"pong")
    assert await client.request(Op.GET, b"apple") == (Status.OK, b"1.20")
    assert await client.request(Op.GET, b"apple") == (Status.OK, b"1.20")
    assert store.lookups == [b"apple"]
    assert cache.stats().hits == 1

    store.data[b"apple"] = b"1.35"
    assert await client.request(Op.INVALIDATE, b"apple") == (Status.OK, b"")
    assert await client.request(Op.GET, b"apple") == (Status.OK, b"1.35")


async def test_not_found_and_errors_are_answered_and_not_cached(
    client: Client, store: Store
) -> None:
    for _ in range(2):
        assert await client.request(Op.GET, b"plum") == (Status.NOT_FOUND, b"")
        assert await client.request(Op.GET, b"boom") == (
            Status.ERROR,
            b"LookupError: database unavailable",
        )
    assert store.lookups == [b"plum", b"boom"] * 2
    assert await client.request(Op.GET, b"pear") == (Status.OK, b"0.80")  # still serving


async def test_pipelined_requests_are_answered_as_soon_as_ready(
    client: Client, store: Store
) -> None:
    store.gates[b"apple"] = asyncio.Event()
    slow = asyncio.ensure_future(client.request(Op.GET, b"apple"))
    assert await client.request(Op.GET, b"pear") == (Status.OK, b"0.80")  # overtakes
    assert not slow.done()
    store.gates[b"apple"].set()
    assert await slow == (Status.OK, b"1.20")


async def test_identical_requests_from_many_connections_make_one_lookup(
    port: int, store: Store, cache: hitbox.Cache
) -> None:
    store.gates[b"apple"] = asyncio.Event()
    clients = [await Client.connect("127.0.0.1", port) for _ in range(4)]
    try:
        pending = [asyncio.ensure_future(c.request(Op.GET, b"apple")) for c in clients]
        await until(lambda: cache.stats().locked == 3)
        store.gates[b"apple"].set()
        assert await asyncio.gather(*pending) == [(Status.OK, b"1.20")] * 4
        assert store.lookups == [b"apple"]
    finally:
        for c in clients:
            await c.aclose()


async def test_bad_input(port: int, client: Client) -> None:
    assert await client.request(9, b"x") == (Status.BAD_REQUEST, b"unknown op 9")  # type: ignore[arg-type]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(struct.pack(">I", 2) + b"\x00\x01")  # too short for a header
    await writer.drain()
    length = struct.unpack(">I", await reader.readexactly(4))[0]
    reply = await reader.readexactly(length)
    assert reply[4] == Status.BAD_REQUEST
    writer.write(struct.pack(">I", MAX_FRAME + 1))  # oversized: the server hangs up
    await writer.drain()
    assert await reader.read() == b""
    writer.close()
    await writer.wait_closed()


async def test_a_dead_cache_backend_does_not_stop_the_server(store: Store) -> None:
    cache = hitbox.Cache(FailingBackend(), policy={"ttl": 60})
    server = await CachingServer(cache, store.lookup).start()
    client = await Client.connect("127.0.0.1", server.sockets[0].getsockname()[1])
    try:
        for _ in range(2):
            assert await client.request(Op.GET, b"apple") == (Status.OK, b"1.20")
        assert store.lookups == [b"apple", b"apple"]
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
