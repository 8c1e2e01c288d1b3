"""The lean single-key read path: shared-timer deadlines and redis-py-compatible failures.

``Deadlines`` itself is tested in ``tests/core/test_deadlines.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from hitbox.testing import make_value
from hitbox_redis import RedisBackend
from hitbox_redis._connection import DirectConnection, pack_get
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from tests.redis_servers import RedisServer

NEVER = 3600.0
SHORT = 0.05


# -- the lean GET ----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["k", "hitbox:ns:user:42", "clé ✓", "x" * 10_000, ""])
def test_a_packed_get_is_what_redis_py_sends(key: str) -> None:
    connection = DirectConnection()
    assert pack_get(key, connection.encoder) == b"".join(connection.pack_command("GET", key))


# -- the lean GET against a real server ------------------------------------------------


@pytest.mark.services
async def test_standalone_backends_read_through_the_lean_path(
    redis_server: RedisServer,
) -> None:
    backend = RedisBackend.from_url(redis_server.url, socket_timeout=1.0)
    try:
        assert isinstance(backend.client, Redis)
        assert issubclass(backend.client.connection_pool.connection_class, DirectConnection)
        await backend.set("direct:k", make_value(b"v"), 60)
        entry = await backend.get("direct:k")
        assert entry is not None
        assert entry.data == b"v"
        assert await backend.get("direct:missing") is None
    finally:
        await backend.aclose()


@pytest.mark.services
async def test_a_client_of_ones_own_keeps_redis_pys_path(redis_server: RedisServer) -> None:
    client = Redis.from_url(redis_server.url)
    backend = RedisBackend(client=client)
    try:
        await backend.set("own:k", make_value(b"v"), 60)
        entry = await backend.get("own:k")
        assert entry is not None
        assert entry.data == b"v"
    finally:
        await backend.aclose()
        await client.aclose()


@pytest.mark.services
async def test_a_timed_out_read_never_leaves_its_reply_for_the_next_one(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    server = redis_server_factory()
    backend = RedisBackend.from_url(server.url, max_connections=1, auto_batch=False)
    try:
        await backend.set("first", make_value(b"first"), 60)
        await backend.set("second", make_value(b"second"), 60)
        server.freeze()
        try:
            with pytest.raises(RedisTimeoutError):
                await backend.get("first")  # its reply arrives after the thaw, if ever
        finally:
            server.thaw()
        entry = await backend.get("second")  # the one pooled connection, reconnected
        assert entry is not None
        assert entry.data == b"second"
    finally:
        await backend.aclose()


@pytest.mark.services
async def test_a_read_cancelled_in_flight_never_leaves_its_reply(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    server = redis_server_factory()
    backend = RedisBackend.from_url(
        server.url, max_connections=1, auto_batch=False, socket_timeout=NEVER
    )
    try:
        await backend.set("first", make_value(b"first"), 60)
        await backend.set("second", make_value(b"second"), 60)
        server.freeze()
        try:
            reader = asyncio.create_task(backend.get("first"))
            await asyncio.sleep(SHORT)  # the GET is written and waiting for its reply
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader
        finally:
            server.thaw()
        entry = await backend.get("second")
        assert entry is not None
        assert entry.data == b"second"
    finally:
        await backend.aclose()


@pytest.mark.services
async def test_a_restarted_server_is_reconnected_without_an_error(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    server = redis_server_factory()
    backend = RedisBackend.from_url(server.url, socket_timeout=1.0, auto_batch=False)
    try:
        await backend.set("k", make_value(b"v"), 60)
        assert await backend.get("k") is not None  # a pooled connection now exists
        server.restart()  # same port, no data: the pooled socket is dead
        assert await backend.get("k") is None
    finally:
        await backend.aclose()
