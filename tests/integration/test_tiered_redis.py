"""Tiered backends (memory L1 + Redis L2) against real ``redis-server`` processes.

The conformance kit, two instances sharing one server (writes, deletes and tag
invalidations through :class:`hitbox.Cache` seen across them within milliseconds),
distributed locks through the tiered backend, configuration by name, and a bus outage:
the server is killed (L1 entries become short-lived, then are flushed, nothing raises)
and restarted on the same port (invalidations flow again).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import hitbox
import pytest
from hitbox import BatchBackend, InvalidationBus, LockingBackend
from hitbox.testing import BackendConformance, make_value
from hitbox.tiered import TieredBackend
from hitbox_memory import MemoryBackend
from hitbox_redis import RedisBackend

from tests.integration.conftest import settle, wait_until
from tests.redis.conftest import RELAXED
from tests.redis_servers import RedisServer

pytestmark = pytest.mark.services

MakeBackend = Callable[..., RedisBackend]


async def subscribers(redis: RedisBackend) -> int:
    """Subscriptions on ``redis``'s invalidation channel."""
    numsub = await redis.client.pubsub_numsub(redis.config.invalidation_channel)
    return sum(count for _, count in numsub)  # type: ignore[union-attr]


async def wait_for_subscribers(redis: RedisBackend, count: int) -> None:
    deadline = time.monotonic() + 10
    while await subscribers(redis) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {count} subscribers")
        await asyncio.sleep(0.01)


def data(found: hitbox.CachedValue | None) -> bytes | None:
    return None if found is None else found.data


def l1_entry(memory: Any, key: str) -> hitbox.CachedValue | None:
    """A memory backend's entry, read synchronously (for wait conditions)."""
    found: hitbox.CachedValue | None = memory.get_sync(key)
    return found


class Pair:
    """Two tiered instances (their own memory L1, one Redis) on a private channel."""

    def __init__(self, make_backend: MakeBackend, url: str, **options: Any) -> None:
        channel = f"hitbox:test-tiered:{uuid.uuid4().hex}"
        self.redis = [make_backend(url, invalidation_channel=channel) for _ in range(2)]
        self.a, self.b = (
            TieredBackend([MemoryBackend(max_entries=10_000), redis], **options)
            for redis in self.redis
        )

    async def start(self) -> None:
        """Start both listeners and wait until Redis counts both subscriptions."""
        await self.a.get("warm")
        await self.b.get("warm")
        await wait_for_subscribers(self.redis[0], 2)

    async def settle(self) -> None:
        """Wait until each instance received what the other published."""
        await settle([self.a, self.b])

    async def aclose(self) -> None:
        await self.a.aclose()
        await self.b.aclose()


@pytest.fixture
async def pair(redis_server: RedisServer, make_backend: MakeBackend) -> AsyncIterator[Pair]:
    pair = Pair(make_backend, redis_server.url)
    await pair.start()
    yield pair
    await pair.aclose()


class TestTieredRedisConformance(BackendConformance):
    """The conformance kit on memory + Redis."""

    @pytest.fixture
    async def backend(
        self, redis_server: RedisServer, make_backend: MakeBackend
    ) -> AsyncIterator[TieredBackend]:
        backend = TieredBackend([MemoryBackend(max_entries=10_000), make_backend(redis_server.url)])
        yield backend
        await backend.aclose()


async def test_capabilities_pass_through(pair: Pair) -> None:
    assert isinstance(pair.a, BatchBackend)
    assert isinstance(pair.a, LockingBackend)
    assert not isinstance(pair.a, InvalidationBus)
    assert pair.a.bus is pair.redis[0]
    key = f"lock:{uuid.uuid4().hex}"
    token = await pair.a.acquire_lock(key, 30)
    assert token is not None
    assert await pair.b.acquire_lock(key, 30) is None  # held in Redis, not in A's memory
    await pair.a.release_lock(key, token)
    second = await pair.b.acquire_lock(key, 30)
    assert second is not None
    await pair.b.release_lock(key, second)


async def test_writes_and_deletes_reach_the_other_l1_within_milliseconds(pair: Pair) -> None:
    a, b = pair.a, pair.b
    b_l1 = b.tiers[0].backend
    delays: list[float] = []
    for index in range(50):
        key = f"k:{uuid.uuid4().hex}"
        await a.set(key, make_value(b"v1"), 60)
        await pair.settle()
        assert data(await b.get(key)) == b"v1"
        assert await b_l1.get(key) is not None
        started = time.perf_counter()
        if index % 2:
            await a.delete(key)
        else:
            await a.set(key, make_value(b"v2"), 60)
        while await b_l1.get(key) is not None:
            assert time.perf_counter() - started < 5, "invalidation never arrived"
            await asyncio.sleep(0)
        delays.append(time.perf_counter() - started)
        expected = None if index % 2 else b"v2"
        assert data(await b.get(key)) == expected
    assert b.stats().bus == "live"
    print(f"\nset/delete -> other L1: median {statistics.median(delays) * 1000:.2f} ms")


async def test_tag_invalidation_through_cache(pair: Pair) -> None:
    policy = hitbox.Policy(ttl=300)
    caches = [hitbox.Cache(backend, policy=policy) for backend in (pair.a, pair.b)]
    calls = [0, 0]
    item = uuid.uuid4().int % 10_000

    def define(index: int):  # type: ignore[no-untyped-def]
        @caches[index].cached(key="stock:{item}", tags=["inventory:{item}"])
        async def stock(item: int) -> list[int]:
            calls[index] += 1
            return [item, index, calls[index]]

        return stock

    stock_a, stock_b = define(0), define(1)
    assert await stock_a(item) == [item, 0, 1]
    await pair.settle()
    assert await stock_b(item) == [item, 0, 1]  # A's value, via Redis
    await asyncio.sleep(0.01)  # let the clock tick past the entry's creation time
    await caches[0].invalidate_tags(f"inventory:{item}")
    await pair.settle()
    assert await stock_b(item) == [item, 1, 1]  # B missed and called its own upstream
    assert calls == [1, 1]


async def test_configured_by_name(redis_server: RedisServer) -> None:
    channel = f"hitbox:test-tiered:{uuid.uuid4().hex}"
    config = {
        "backend": {
            "name": "tiered",
            "write_policy": "concurrent",
            "tiers": [
                {"name": "memory", "max_entries": 100},
                {"url": redis_server.url, "invalidation_channel": channel, **RELAXED},
            ],
        },
        "policy": {"ttl": 60},
    }
    async with hitbox.Cache.from_config(config) as cache:
        backend = cache.backend
        assert isinstance(backend, TieredBackend)
        assert backend.label == "tiered[memory+redis]"
        assert isinstance(backend.bus, RedisBackend)
        assert backend.write_policy == "concurrent"
        key = uuid.uuid4().hex
        assert await cache.set(key, {"a": 1})
        assert await cache.get(key) == {"a": 1}
        assert await cache.invalidate(key)
        assert await cache.get(key) is None


async def test_external_bus_from_configuration(redis_server: RedisServer) -> None:
    channel = f"hitbox:test-tiered:{uuid.uuid4().hex}"
    section = {
        "name": "tiered",
        "tiers": ["memory", "memory"],
        "private_tiers": 1,
        "bus": {"url": redis_server.url, "invalidation_channel": channel, **RELAXED},
    }
    a = hitbox.Cache.from_config({"backend": section}).backend
    b = hitbox.Cache.from_config({"backend": section}).backend
    assert isinstance(a, TieredBackend)
    assert isinstance(b, TieredBackend)
    try:
        await a.get("warm")
        await b.get("warm")
        assert isinstance(a.bus, RedisBackend)
        await wait_for_subscribers(a.bus, 2)
        await b.set("k", make_value(b"b"), 60)
        await a.set("k", make_value(b"a"), 60)
        await wait_until(lambda: b.stats().invalidations_received == 1, 5)
        assert await b.tiers[0].backend.get("k") is None
    finally:
        await a.aclose()
        await b.aclose()
    assert a.bus._closed  # type: ignore[union-attr]  # the bus the tiered backend built


@pytest.mark.slow
async def test_bus_outage_kill_and_restart(
    redis_server_factory: Callable[..., RedisServer], make_backend: MakeBackend
) -> None:
    server = redis_server_factory()
    pair = Pair(
        make_backend,
        server.url,
        outage_l1_ttl=0.4,
        recovery_grace=0.3,
        probe_interval=0.05,
    )
    a, b = pair.a, pair.b
    b_l1 = b.tiers[0].backend
    try:
        await pair.start()
        await a.set("hello", make_value(), 60)  # B hears it: the bus is live
        await wait_until(lambda: b.stats().bus == "live", 5)
        await a.set("k", make_value(b"before"), 600)
        await pair.settle()
        assert data(await b.get("k")) == b"before"

        server.kill()
        await wait_until(lambda: b.stats().bus == "down", 5)
        assert data(await b.get("k")) == b"before"
        assert await b.get("never-written") is None  # no exception: L1 answered
        await b.set("during", make_value(b"during"), 600)  # L1 only, short-lived
        await wait_until(lambda: b.stats().flushes >= 1, 5)
        assert await b_l1.get("k") is None  # staleness is bounded: pre-outage entries gone
        assert await b.get("k") is None
        cache = hitbox.Cache(b, policy=hitbox.Policy(ttl=60))
        assert await cache.get("k", default="upstream") == "upstream"  # fail-open

        server.launch()  # same port, empty
        await wait_until(lambda: b.stats().bus in ("recovering", "live"), 10)
        await wait_for_subscribers(pair.redis[0], 2)
        await wait_until(lambda: a.stats().bus != "down" and b.stats().bus != "down", 5)
        received = b.stats().invalidations_received
        await a.set("k", make_value(b"after"), 600)
        await wait_until(lambda: b.stats().invalidations_received > received, 5)
        assert data(await b.get("k")) == b"after"
        await a.set("k", make_value(b"newer"), 600)
        await wait_until(lambda: data(l1_entry(b_l1, "k")) != b"after", 5)
        assert data(await b.get("k")) == b"newer"  # invalidations flow again
        assert b.stats().bus == "live"
    finally:
        await pair.aclose()
