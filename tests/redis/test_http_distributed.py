"""RFC mode over a real Redis with ``lock="distributed"``: separate cache instances, each
with its own connection pool and local single-flight, make one origin call per URL."""

from __future__ import annotations

from collections.abc import Callable

from hitbox_http import HttpCache
from hitbox_redis import RedisBackend

from tests.http.test_distributed_lock import SlowOrigin, fetch_all
from tests.redis_servers import RedisServer

URL = "https://example.com/test_http_distributed"  # the server is shared by the session


async def test_http_misses_collapse_across_instances_through_redis(
    redis_server: RedisServer, make_backend: Callable[..., RedisBackend]
) -> None:
    caches = [HttpCache(make_backend(redis_server.url), lock="distributed") for _ in range(4)]
    origin = SlowOrigin(delay=0.2)
    try:
        assert await fetch_all(caches, origin, per_cache=25, url=URL) == [b"ok"] * 100
    finally:
        for cache in caches:
            await cache.aclose()
    assert origin.calls == 1
    assert sum(c.stats().locked for c in caches) == 99
