"""HttpCache.stats(): what RFC mode counts, and its rate-limited fail-open warnings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import hitbox
import pytest
from hitbox_http import Headers, HttpCache, HttpPolicy, Request, Streamed, UpstreamError
from hitbox_memory import MemoryBackend

URL = "https://example.com/report?user=alice&token=s3cret"


class Origin:
    """An upstream for :meth:`HttpCache.handle`: fixed headers, counts calls, can fail."""

    def __init__(self, cache_control: str, clock: hitbox.ManualClock) -> None:
        self.cache_control = cache_control
        self.clock = clock
        self.calls = 0
        self.down = False
        self.gate: asyncio.Event | None = None

    async def __call__(self, request: Request) -> Streamed:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise UpstreamError("connection refused")
        headers = Headers([("cache-control", self.cache_control), ("etag", '"v1"')])
        return Streamed(200, headers, _body(b"report"))


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def answer(cache: HttpCache, origin: Origin, method: str = "GET") -> bytes:
    streamed = await cache.handle(Request(method, URL), origin)
    return b"".join([chunk async for chunk in streamed.body])


@pytest.fixture
def clock() -> hitbox.ManualClock:
    return hitbox.ManualClock()


def http_cache(clock: hitbox.ManualClock, backend: hitbox.Backend | None = None) -> HttpCache:
    backend = backend if backend is not None else MemoryBackend(clock=clock)
    return HttpCache(backend, HttpPolicy(), clock=clock)


async def test_hits_misses_stale_and_upstream_calls(clock: hitbox.ManualClock) -> None:
    cache = http_cache(clock)
    origin = Origin("max-age=10, stale-while-revalidate=30, stale-if-error=600", clock)
    assert cache.stats() == hitbox.Stats()
    await answer(cache, origin)  # miss, stored
    await answer(cache, origin)  # fresh hit
    await clock.advance(15)
    await answer(cache, origin)  # stale-while-revalidate: stale + background refresh
    assert cache.background_tasks == 1
    await clock.settle()  # let the revalidation finish
    assert cache.background_tasks == 0
    await clock.advance(100)
    origin.down = True
    assert await answer(cache, origin) == b"report"  # stale-if-error: a miss, then stale
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.stale) == (1, 2, 2)
    assert stats.refreshes == 1
    assert stats.upstream_calls == origin.calls == 3
    assert (stats.locked, stats.errors, stats.skipped) == (0, 0, 0)


async def test_unsafe_methods_are_upstream_calls_not_requests(clock: hitbox.ManualClock) -> None:
    cache = http_cache(clock)
    origin = Origin("max-age=60", clock)
    await answer(cache, origin, method="POST")
    stats = cache.stats()
    assert stats.requests == 0
    assert stats.upstream_calls == 1


async def test_failed_upstream_without_stale_counts_the_call(clock: hitbox.ManualClock) -> None:
    cache = http_cache(clock)
    origin = Origin("max-age=60", clock)
    origin.down = True
    with pytest.raises(UpstreamError):
        await answer(cache, origin)
    stats = cache.stats()
    assert (stats.misses, stats.stale, stats.upstream_calls) == (1, 0, 1)


async def test_collapsed_requests_count_as_locked(clock: hitbox.ManualClock) -> None:
    cache = http_cache(clock)
    origin = Origin("max-age=60", clock)
    origin.gate = asyncio.Event()
    leader = asyncio.create_task(answer(cache, origin))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(answer(cache, origin))
    for _ in range(5):
        await asyncio.sleep(0)
    origin.gate.set()
    assert await asyncio.gather(leader, waiter) == [b"report", b"report"]
    stats = cache.stats()
    # As in hitbox.Cache: the waiter missed too, then waited (locked) for the leader.
    assert (stats.locked, stats.misses, stats.hits, origin.calls) == (1, 2, 0, 1)


class DownBackend(hitbox.Backend):
    """A remote backend whose every call fails, as during an outage."""

    async def get(self, key: str) -> hitbox.CachedValue | None:
        raise ConnectionError("redis down")

    async def set(self, key: str, value: hitbox.CachedValue, ttl: float) -> None:
        raise ConnectionError("redis down")

    async def delete(self, key: str) -> None:
        raise ConnectionError("redis down")


async def test_a_failing_backend_warns_once_per_window_without_the_url(
    clock: hitbox.ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    cache = http_cache(clock, DownBackend())
    origin = Origin("max-age=60", clock)
    for _ in range(10):
        assert await answer(cache, origin) == b"report"  # fail open: the origin answers
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    # One failed read per request (after it the run does not pay for a write), logged
    # once by the one guard every cache uses.
    assert [r.getMessage() for r in warnings] == [
        "hitbox backend DownBackend: get failed (ConnectionError: redis down); "
        "calling the upstream instead",
    ]
    assert {r.name for r in warnings} == {"hitbox"}
    assert cache.stats().errors == 10
    assert not any("alice" in m or "s3cret" in m for m in caplog.text.splitlines())


async def test_the_key_is_logged_at_debug_level_only(
    clock: hitbox.ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="hitbox_http")
    cache = http_cache(clock, DownBackend())
    await answer(cache, Origin("max-age=60", clock))
    with_url = [r for r in caplog.records if "s3cret" in r.getMessage()]
    assert with_url
    assert {r.levelno for r in with_url} == {logging.DEBUG}
