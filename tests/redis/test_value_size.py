"""``max_value_size``: oversized values are neither written nor read, and cost no failure.

A value too large to read within the socket timeout used to turn every read of its key
into a timeout, and five of those opened the breaker for every key. Now a write over the
limit deletes the key instead (a warning, an ``oversized`` event), and a stored value
over it -- written by something else -- is answered as a miss from its length alone:
on the lean ``GET`` path from the reply header, in batched reads by the read script.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import hitbox
import pytest
from hitbox.testing import make_value
from hitbox_redis import RedisBackend
from redis.asyncio import Redis

from tests.redis.test_backend import MakeBackend
from tests.redis_servers import RedisClusterServers, RedisServer
from tests.support import BackendEventRecorder, backend_events  # noqa: F401 - fixture

BIG = 50 * 1024 * 1024


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A plain client with patient timeouts, to plant values behind the backend's back."""
    client = Redis.from_url(redis_server.url, socket_timeout=30)
    yield client
    await client.aclose()


async def test_a_stored_value_over_the_limit_reads_as_a_miss(
    redis_server: RedisServer,
    make_backend: MakeBackend,
    raw: Redis,
    backend_events: BackendEventRecorder,  # noqa: F811
) -> None:
    backend = make_backend(redis_server.url, max_value_size=1024 * 1024)
    await raw.set("big:direct", b"x" * (2 * 1024 * 1024))
    await backend.set("small:direct", make_value(b"small"), 60)
    assert await backend.get("big:direct") is None
    assert backend.sizes.found == 1
    stored = await backend.get("small:direct")  # the dropped connection was replaced
    assert stored is not None
    assert stored.data == b"small"
    assert backend_events.kinds() == [("oversized", "redis", "big:direct")]
    detail = dict(backend_events.events[0].detail)  # type: ignore[attr-defined]
    # The lean path reads only the reply header of GETRANGE 0 <limit>: "over the limit".
    assert detail == {"size": 1024 * 1024 + 1, "limit": 1024 * 1024, "operation": "get"}


async def test_a_sync_read_of_a_value_over_the_limit_is_a_miss(
    redis_server: RedisServer, make_backend: MakeBackend, raw: Redis
) -> None:
    backend = make_backend(redis_server.url, max_value_size=1024 * 1024)
    await raw.set("big:sync", b"x" * (2 * 1024 * 1024))
    await backend.set("small:sync", make_value(b"small"), 60)
    assert backend.sync_reads
    assert await asyncio.to_thread(backend.get_sync, "big:sync") is None
    assert backend.sizes.found == 1
    stored = await asyncio.to_thread(backend.get_sync, "small:sync")
    assert stored is not None
    assert stored.data == b"small"
    assert await asyncio.to_thread(backend.get_sync, "missing:sync") is None


async def test_a_batched_read_answers_the_other_keys(
    redis_server: RedisServer, make_backend: MakeBackend, raw: Redis
) -> None:
    backend = make_backend(redis_server.url, max_value_size=1024 * 1024)
    keys = [f"batch:{i}" for i in range(20)]
    await backend.set_many({key: (make_value(key.encode()), 60.0) for key in keys})
    await raw.set(keys[7], b"x" * (2 * 1024 * 1024))
    concurrent = await asyncio.gather(*(backend.get(key) for key in keys))
    many = await backend.get_many(keys)
    for results in (concurrent, many):
        assert [r.data if r else None for r in results] == [
            None if i == 7 else key.encode() for i, key in enumerate(keys)
        ]
    assert backend.sizes.found == 2


async def test_a_write_over_the_limit_deletes_the_key_instead(
    redis_server: RedisServer,
    make_backend: MakeBackend,
    raw: Redis,
    backend_events: BackendEventRecorder,  # noqa: F811
) -> None:
    backend = make_backend(redis_server.url, max_value_size=64 * 1024)
    await backend.set("w:one", make_value(b"old"), 60)
    await backend.set_many({"w:two": (make_value(b"old"), 60.0)})
    await backend.set("w:one", make_value(b"y" * 100_000), 60)  # no exception
    await backend.set_many(
        {"w:two": (make_value(b"y" * 100_000), 60.0), "w:three": (make_value(b"ok"), 60.0)}
    )
    assert await raw.exists("w:one", "w:two") == 0
    stored = await backend.get("w:three")
    assert stored is not None
    assert stored.data == b"ok"
    assert backend.sizes.refused == 2
    assert [kind for kind, _, _ in backend_events.kinds()] == ["oversized", "oversized"]


async def test_a_50_mb_value_is_a_miss_not_a_failure_with_default_settings(
    redis_server: RedisServer, raw: Redis
) -> None:
    cache = hitbox.Cache(RedisBackend.from_url(redis_server.url))
    calls: list[int] = []

    @cache.cached(key="poison:{n}", ttl=60)
    async def load(n: int) -> int:
        calls.append(n)
        return n

    async with cache:
        await raw.set(load.cache_key(0), b"x" * BIG)
        for _ in range(3):  # five failures would open the breaker
            assert await load(0) == 0
            await raw.set(load.cache_key(0), b"x" * BIG)  # poisoned again
        assert cache.stats().errors == 0
        assert cache.breaker_state == "closed"
        assert calls == [0, 0, 0]
        await raw.delete(load.cache_key(0))
        assert [await load(0), await load(0)] == [0, 0]
        assert calls == [0, 0, 0, 0]  # the small result was stored again


async def test_cluster_reads_are_bounded_too(
    redis_cluster: RedisClusterServers, make_backend: MakeBackend
) -> None:
    backend = make_backend(redis_cluster.url, max_value_size=1024 * 1024)
    keys = [f"{{size}}:k{i}" for i in range(5)]
    await backend.set_many({key: (make_value(key.encode()), 60.0) for key in keys})
    await backend.client.set(keys[2], b"x" * (2 * 1024 * 1024))
    results = await backend.get_many(keys)
    assert [r.data if r else None for r in results] == [
        None if i == 2 else key.encode() for i, key in enumerate(keys)
    ]
    assert await backend.get(keys[2]) is None
    assert backend.sizes.found == 2
