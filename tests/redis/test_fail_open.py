"""A hitbox.Cache over Redis while the server dies, freezes and comes back.

Callers never see a backend error, get correct results, and wait at most about the
backend timeout plus the upstream time; when the server returns the cache uses it again
without a restart.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

import hitbox
import pytest
from hitbox_redis import RedisBackend

from tests.redis_servers import RedisServer

pytestmark = [pytest.mark.services, pytest.mark.slow]

UPSTREAM_SECONDS = 0.005
BACKEND_TIMEOUT = 0.25  # the core's default
SCHEDULING_MARGIN = 0.25
"""200 tasks on a shared, busy 2-core machine: one turn through every task can take this
long (a hanging backend would still show: redis-py's own timeouts are 5 s)."""


def make_cache(url: str) -> tuple[hitbox.Cache, Callable[[int], object], list[int]]:
    """A cache over a default-configured backend, and a cached upstream counting calls."""
    cache = hitbox.Cache(
        RedisBackend.from_url(url),
        serializer="json",
        policy={"ttl": 60, "backend_timeout": BACKEND_TIMEOUT, "cooldown": 0.5},
    )
    upstream_calls: list[int] = []

    @cache.cached(key="item:{n}")
    async def fetch_item(n: int) -> str:
        upstream_calls.append(n)
        await asyncio.sleep(UPSTREAM_SECONDS)
        return f"value:{n}"

    return cache, fetch_item, upstream_calls


async def test_kill_mid_run_then_restart(redis_server_factory: Callable[..., RedisServer]) -> None:
    server = redis_server_factory()
    cache, fetch_item, _ = make_cache(server.url)
    total, concurrency, kill_after = 5000, 200, 1500
    latencies: list[float] = []
    wrong: list[tuple[int, object]] = []
    errors: list[BaseException] = []
    done = 0
    killed = asyncio.Event()
    rng = random.Random(7)
    plan = [rng.randrange(400) for _ in range(total)]

    async def worker(calls: list[int]) -> None:
        nonlocal done
        for n in calls:
            start = time.monotonic()
            try:
                result = await fetch_item(n)
            except BaseException as exc:  # the point: nothing may reach the caller
                errors.append(exc)
                continue
            latencies.append(time.monotonic() - start)
            if result != f"value:{n}":
                wrong.append((n, result))
            done += 1
            if done == kill_after:
                server.kill()
                killed.set()

    try:
        # Warm up: connections open and a first round of entries is stored.
        await asyncio.gather(*(fetch_item(n) for n in range(concurrency)))
        await asyncio.gather(*(worker(plan[i::concurrency]) for i in range(concurrency)))
        assert killed.is_set()
        assert errors == []
        assert wrong == []
        assert len(latencies) == total
        latencies.sort()
        p99 = latencies[int(0.99 * total)]
        assert p99 <= BACKEND_TIMEOUT + UPSTREAM_SECONDS + SCHEDULING_MARGIN, p99
        assert cache.stats().errors > 0  # the backend really failed underneath

        server.launch()  # same port, empty
        hits_before = cache.stats().hits
        start = time.monotonic()
        while cache.stats().hits == hits_before:
            assert await fetch_item(1) == "value:1"
            assert time.monotonic() - start < 2.0, "hits did not resume within 2 s"
            await asyncio.sleep(0.05)
    finally:
        await cache.aclose()


async def test_frozen_server_opens_the_breaker_and_thaw_closes_it(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    server = redis_server_factory()
    cache, fetch_item, _ = make_cache(server.url)
    try:
        assert await fetch_item(1) == "value:1"
        server.freeze()
        try:
            for n in range(8):
                start = time.monotonic()
                assert await fetch_item(n) == f"value:{n}"
                took = time.monotonic() - start
                # one read and one write may each run into the socket timeout (50 ms)
                assert took <= 2 * BACKEND_TIMEOUT + UPSTREAM_SECONDS + SCHEDULING_MARGIN
            assert cache.breaker_state == "open"
            skipped = cache.stats().skipped
            assert await fetch_item(99) == "value:99"
            assert cache.stats().skipped > skipped  # open: the backend is not even tried
        finally:
            server.thaw()
        start = time.monotonic()
        while cache.breaker_state != "closed":
            assert await fetch_item(2) == "value:2"
            assert time.monotonic() - start < 3.0, "breaker did not close after SIGCONT"
            await asyncio.sleep(0.05)
    finally:
        await cache.aclose()
