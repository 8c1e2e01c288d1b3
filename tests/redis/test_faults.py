"""Faults against real servers: refused, killed, frozen, restarted, exhausted.

The backend raises (quickly: within its timeouts) and reconnects by itself; the cache in
front of it fails open. These tests use the backend's real, cache-suited defaults, each
with a private server it may kill.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import hitbox
import pytest
from hitbox.testing import make_value
from hitbox_redis import RedisBackend
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from tests.redis_servers import RedisServer
from tests.support import free_port

pytestmark = pytest.mark.services

BACKEND_ERRORS = (RedisError, OSError)  # OSError covers the builtin TimeoutError
FAST = 0.5
"""Upper bound for a failing call: the defaults allow ~0.1 s, the rest is machine noise."""


async def elapsed(operation: Awaitable[Any]) -> float:
    """Seconds ``operation`` took to raise a backend error (fails the test if it did not)."""
    start = time.monotonic()
    with pytest.raises(BACKEND_ERRORS):
        await operation
    return time.monotonic() - start


async def eventually(check: Callable[[], Awaitable[bool]], within: float) -> float:
    """Seconds until ``check()`` is true (polling); fails the test after ``within``."""
    start = time.monotonic()
    while True:
        with contextlib.suppress(*BACKEND_ERRORS):
            if await check():
                return time.monotonic() - start
        if time.monotonic() - start > within:
            pytest.fail(f"condition not reached within {within}s")
        await asyncio.sleep(0.05)


def all_operations(backend: RedisBackend) -> list[Callable[[], Awaitable[Any]]]:
    """Every backend operation, each ready to be started."""
    value = make_value(b"v")
    return [
        lambda: backend.get("k"),
        lambda: backend.set("k", value, 60),
        lambda: backend.delete("k"),
        lambda: backend.get_many(["a", "b"]),
        lambda: backend.set_many({"a": (value, 60.0), "b": (value, 60.0)}),
        lambda: backend.delete_many(["a", "b"]),
        lambda: backend.acquire_lock("k", 5),
        lambda: backend.release_lock("k", "token"),
        lambda: backend.publish_invalidation(keys=["k"]),
        lambda: backend.ping(),
    ]


async def test_connection_refused_fails_fast() -> None:
    backend = RedisBackend.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        for operation in all_operations(backend):
            assert await elapsed(operation()) < FAST
    finally:
        await backend.aclose()


async def test_killed_server_fails_fast_and_restart_reconnects(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    server = redis_server_factory()
    backend = RedisBackend.from_url(server.url)
    try:
        await backend.set("k", make_value(b"before"), 60)
        assert await backend.get("k") is not None
        server.kill()
        for operation in all_operations(backend):
            assert await elapsed(operation()) < FAST
        server.launch()  # same port; the data is gone (no persistence)

        async def working() -> bool:
            await backend.set("k", make_value(b"after"), 60)
            stored = await backend.get("k")
            return stored is not None and stored.data == b"after"

        assert await eventually(working, within=2.0) < 2.0
    finally:
        await backend.aclose()


async def test_frozen_server_times_out_within_socket_timeout(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    server = redis_server_factory()
    backend = RedisBackend.from_url(server.url)
    try:
        await backend.set("k", make_value(), 60)
        server.freeze()
        try:
            for operation in all_operations(backend):
                assert await elapsed(operation()) < FAST
        finally:
            server.thaw()

        async def answers() -> bool:
            return await backend.get("k") is not None

        await eventually(answers, within=2.0)
    finally:
        await backend.aclose()


async def test_exhausted_pool_raises_quickly_and_the_cache_fails_open(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    server = redis_server_factory()
    backend = RedisBackend.from_url(
        server.url, max_connections=2, pool_timeout=0.02, socket_timeout=2.0
    )
    blockers = [
        asyncio.create_task(backend.client.blpop([f"never:{i}"], timeout=1)) for i in range(2)
    ]
    cache = hitbox.Cache(backend, serializer="json", policy={"ttl": 60})
    try:
        await asyncio.sleep(0.2)  # both pooled connections are now blocked in BLPOP
        error = None
        start = time.monotonic()
        try:
            await backend.set("k", make_value(), 60)
        except RedisConnectionError as exc:
            error = exc
        assert error is not None, "a full pool must raise"
        assert "No connection available" in str(error)
        assert time.monotonic() - start < FAST

        @cache.cached(key="pool:{n}")
        async def compute(n: int) -> int:
            return n * 2

        assert await compute(21) == 42  # fail-open: the upstream answers, nothing raises
        assert cache.stats().errors >= 1
    finally:
        for blocker in blockers:
            blocker.cancel()
        await asyncio.gather(*blockers, return_exceptions=True)
        await cache.aclose()


async def test_a_full_pool_waits_for_a_connection_freed_in_time(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    server = redis_server_factory()
    backend = RedisBackend.from_url(
        server.url, max_connections=1, pool_timeout=1.0, socket_timeout=2.0, auto_batch=False
    )
    try:
        blocker = asyncio.create_task(backend.client.blpop(["never"], timeout=0.3))
        await asyncio.sleep(0.05)
        start = time.monotonic()
        results = await asyncio.gather(*(backend.ping() for _ in range(5)))
        assert results == [True] * 5  # each waited its turn for the single connection
        assert 0.15 < time.monotonic() - start < 1.0
        assert await blocker is None
    finally:
        await backend.aclose()
