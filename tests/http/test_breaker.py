"""HTTP requests go through the engine's guard: once its breaker opens on a hanging
backend, requests stop paying the backend's timeout (and never pay it for the write)."""

from __future__ import annotations

import asyncio

import hitbox
from hitbox_http import CacheMiddleware

from tests.http.asgi_apps import Origin, client, fixed


class HangingBackend(hitbox.Backend):
    """A remote backend that never answers, as a frozen server; counts the calls."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {"get": 0, "set": 0, "delete": 0}

    async def _hang(self, operation: str) -> None:
        self.calls[operation] += 1
        await asyncio.Event().wait()

    async def get(self, key: str) -> hitbox.CachedValue | None:
        await self._hang("get")
        return None

    async def set(self, key: str, value: hitbox.CachedValue, ttl: float) -> None:
        await self._hang("set")

    async def delete(self, key: str) -> None:
        await self._hang("delete")


async def test_requests_stop_paying_the_backend_timeout_once_the_breaker_opens() -> None:
    backend = HangingBackend()
    cache = hitbox.Cache(
        backend, policy={"backend_timeout": 0.02, "failure_threshold": 3, "cooldown": 60}
    )
    origin = Origin(fixed(200, ("cache-control", "max-age=60")))
    middleware = CacheMiddleware(origin, cache=cache)
    async with client(middleware) as http:
        for page in range(3):  # a dead backend fails for every URL: the breaker opens
            response = await http.get(f"/page/{page}")
            assert (response.status_code, response.text) == (200, "hello")
        assert backend.calls == {"get": 3, "set": 0, "delete": 0}  # no write after a failure
        assert cache.breaker_state == "open"  # one breaker for the backend, shared

        for page in range(20):
            response = await http.get(f"/other/{page}")
            assert (response.status_code, response.text) == (200, "hello")
    assert backend.calls == {"get": 3, "set": 0, "delete": 0}  # not called: no timeout paid
    assert len(origin.calls) == 23
    assert middleware.http.stats().skipped == 20
    await cache.aclose()


async def test_closing_an_http_cache_leaves_the_shared_cache_working() -> None:
    from hitbox_http import HttpCache
    from hitbox_memory import MemoryBackend

    cache = hitbox.Cache(MemoryBackend())
    http = HttpCache(cache)
    await http.aclose()
    assert cache.breaker_state == "closed"

    @cache.cached
    async def value(x: int) -> int:
        return x

    assert await value(1) == 1
    assert await value(1) == 1
    assert cache.stats().hits == 1  # the backend is still used
    await cache.aclose()
    assert cache.breaker_state == "open"  # closing the cache itself switches it off
