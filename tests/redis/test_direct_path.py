"""The lean single-key read path: shared-timer deadlines and redis-py-compatible failures.

``Deadlines`` itself is tested in ``tests/core/test_deadlines.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from hitbox.testing import make_value
from hitbox_redis import RedisBackend
from hitbox_redis._connection import DirectConnection, lean_path_supported, pack_read
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from tests.redis_servers import RedisServer

NEVER = 3600.0
SHORT = 0.05


# -- the lean GET ----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["k", "hitbox:ns:user:42", "clé ✓", "x" * 10_000, ""])
def test_a_packed_read_is_what_redis_py_sends(key: str) -> None:
    connection = DirectConnection()
    assert pack_read(key, 8388608, connection.encoder) == b"".join(
        connection.pack_command("GETRANGE", key, 0, 8388608)
    )


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


# -- the fallback when redis-py's internals are not what the lean path expects ---------


def test_the_lean_path_checks_redis_pys_internals() -> None:
    class MovedWriter(DirectConnection):
        """A redis-py release that keeps its stream elsewhere."""

        def __init__(self) -> None:
            super().__init__()
            del self._writer

    class MovedReader(DirectConnection):
        """A redis-py release that keeps its reader elsewhere."""

        def __init__(self) -> None:
            super().__init__()
            del self._reader

    assert lean_path_supported()  # the redis-py this workspace is locked to
    assert not lean_path_supported(MovedWriter)
    assert not lean_path_supported(MovedReader)


@pytest.mark.services
async def test_without_the_internals_the_public_path_serves_the_same_reads(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DirectConnection, "lean", False)
    sent: list[object] = []
    public_send = DirectConnection.send_packed_command

    async def recording_send(self: DirectConnection, *args: object, **kwargs: object) -> None:
        sent.append(args[0])
        await public_send(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(DirectConnection, "send_packed_command", recording_send)
    backend = RedisBackend.from_url(redis_server.url, socket_timeout=1.0)
    try:
        await backend.set("fallback:k", make_value(b"v"), 60)
        entry = await backend.get("fallback:k")
        assert entry is not None
        assert entry.data == b"v"
        assert await backend.get("fallback:missing") is None
        limit = backend.sizes.limit
        assert [pack_read("fallback:k", limit, DirectConnection().encoder)] in sent
    finally:
        await backend.aclose()


@pytest.mark.services
async def test_without_the_internals_an_oversized_value_still_reads_as_a_miss(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DirectConnection, "lean", False)
    backend = RedisBackend.from_url(redis_server.url, socket_timeout=1.0, max_value_size=1024)
    try:
        await backend.client.set("fallback:big", b"x" * 4096)
        assert await backend.get("fallback:big") is None  # at most 1025 bytes transferred
        assert backend.sizes.found == 1
    finally:
        await backend.aclose()
