"""RFC mode with ``lock="distributed"``: one origin call per URL across cache instances.

Each :class:`HttpCache` has its own local single-flight, as separate processes would;
only the backend's lock can collapse their misses. The Redis version of this test lives
in ``tests/redis/test_http_distributed.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import hitbox
import pytest
from hitbox_http import Headers, HttpCache, Request, Streamed
from hitbox_memory import MemoryBackend


class SlowOrigin:
    """A cacheable answer after ``delay`` real seconds; counts calls."""

    def __init__(self, delay: float = 0.1, cache_control: str = "max-age=60") -> None:
        self.delay = delay
        self.cache_control = cache_control
        self.calls = 0

    async def __call__(self, request: Request) -> Streamed:
        self.calls += 1
        await asyncio.sleep(self.delay)
        headers = Headers([("cache-control", self.cache_control), ("content-length", "2")])
        return Streamed(200, headers, _body(b"ok"))


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def fetch_all(
    caches: list[HttpCache], origin: SlowOrigin, per_cache: int, url: str = "https://example.com/"
) -> list[bytes]:
    async def one(cache: HttpCache) -> bytes:
        streamed = await cache.handle(Request("GET", url), origin)
        return b"".join([chunk async for chunk in streamed.body])

    return await asyncio.gather(*(one(c) for c in caches for _ in range(per_cache)))


async def test_instances_sharing_a_locking_backend_call_the_origin_once() -> None:
    backend = MemoryBackend()
    caches = [HttpCache(backend, lock="distributed") for _ in range(4)]
    origin = SlowOrigin()
    assert await fetch_all(caches, origin, per_cache=25) == [b"ok"] * 100
    assert origin.calls == 1
    polled = [c.stats() for c in caches]
    assert sum(s.upstream_calls for s in polled) == 1
    assert sum(s.locked for s in polled) == 99


async def test_with_a_local_lock_each_instance_calls_the_origin() -> None:
    backend = MemoryBackend()
    caches = [HttpCache(backend, lock="local") for _ in range(4)]
    origin = SlowOrigin()
    await fetch_all(caches, origin, per_cache=25)
    assert origin.calls == 4


async def test_an_unstorable_answer_releases_the_lock_and_nobody_reuses_it() -> None:
    backend = MemoryBackend()
    caches = [HttpCache(backend, lock="distributed", lock_timeout=2.0) for _ in range(2)]
    origin = SlowOrigin(delay=0.05, cache_control="private, max-age=60")
    assert await fetch_all(caches, origin, per_cache=3) == [b"ok"] * 6
    # Nothing was stored, so every request asked the origin (some after a poll).
    assert origin.calls == 6


async def test_the_lock_comes_from_the_cache_policy() -> None:
    cache = hitbox.Cache(MemoryBackend(), policy={"lock": "distributed", "lock_timeout": 3})
    http = HttpCache(cache)
    assert http._shared.lock == "distributed"
    assert http._shared.lock_timeout == 3


def test_a_bad_lock_mode_is_a_one_line_config_error() -> None:
    with pytest.raises(hitbox.ConfigError, match="'global'") as caught:
        HttpCache(MemoryBackend(), lock="global")  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)
