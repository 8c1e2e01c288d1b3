"""Fault injection: memcached is killed mid-run. The backend fails fast, the cache fails
open (every caller still gets its answer, from the upstream), and both recover once the
server is back."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from hitbox import Cache, CachedValue, Policy
from hitbox.testing import make_value
from hitbox_memcached import MemcachedBackend

from tests.memcached.conftest import MemcachedServer

pytestmark = [pytest.mark.services, pytest.mark.slow]

TIMEOUT = 0.5


async def _until(predicate: object, limit: float = 15.0) -> None:
    """Wait (real time: recovery is real reconnection) until ``predicate()`` holds."""
    deadline = time.monotonic() + limit
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("autobatching", [False, True], ids=["plain", "autobatching"])
async def test_backend_raises_promptly_while_down_and_recovers(
    memcached_server: MemcachedServer, autobatching: bool
) -> None:
    backend = MemcachedBackend(
        [memcached_server.address],
        timeout=TIMEOUT,
        connect_timeout=TIMEOUT,
        autobatching=autobatching,
    )
    outcomes: Counter[str] = Counter()
    slowest = 0.0
    wrong = 0
    stop = asyncio.Event()
    phase = "up"

    async def worker(number: int) -> None:
        nonlocal slowest, wrong
        key = f"fault:{number}"
        round_ = 0
        while not stop.is_set():
            round_ += 1
            data = f"{number}:{round_}".encode()
            started = time.monotonic()
            try:
                await backend.set(key, make_value(data), 60)
                stored = await backend.get(key)
                if not isinstance(stored, CachedValue) or stored.data != data:
                    wrong += 1
                outcomes[f"{phase}:ok"] += 1
            except Exception as exc:
                outcomes[f"{phase}:{type(exc).__name__}"] += 1
                await asyncio.sleep(0.01)
            slowest = max(slowest, time.monotonic() - started)

    workers = [asyncio.ensure_future(worker(n)) for n in range(20)]
    try:
        await _until(lambda: outcomes["up:ok"] >= 200)
        phase = "down"
        memcached_server.kill()  # while operations are in flight
        await _until(lambda: sum(n for k, n in outcomes.items() if k.startswith("down:")) >= 60)
        phase = "back"
        memcached_server.restart()
        await _until(lambda: outcomes["back:ok"] >= 100)
    finally:
        stop.set()
        await asyncio.gather(*workers)
        await backend.aclose()

    down_errors = sum(n for k, n in outcomes.items() if k.startswith("down:") and k != "down:ok")
    assert down_errors > 0, outcomes
    assert wrong == 0
    # Two operations per round, each bounded by the timeout: nothing hangs.
    assert slowest < 2 * TIMEOUT + 1.0, (slowest, outcomes)


async def test_cache_fails_open_while_memcached_is_dead(memcached_server: MemcachedServer) -> None:
    backend = MemcachedBackend([memcached_server.address], timeout=TIMEOUT, connect_timeout=TIMEOUT)
    policy = Policy(ttl=60, backend_timeout=TIMEOUT, failure_threshold=3, cooldown=0.2)
    cache = Cache(backend, policy=policy)
    calls = 0

    @cache.cached(key="double:{n}")
    async def double(n: int) -> int:
        nonlocal calls
        calls += 1
        return n * 2

    async with cache:
        assert [await double(n) for n in range(10)] == [n * 2 for n in range(10)]
        assert [await double(n) for n in range(10)] == [n * 2 for n in range(10)]
        assert calls == 10  # the second pass came from memcached
        hits_before = cache.stats().hits

        memcached_server.kill()
        answers = await asyncio.gather(*(double(n) for n in range(10)))
        assert answers == [n * 2 for n in range(10)]  # no exception reached the caller
        assert calls == 20  # the upstream answered instead
        stats = cache.stats()
        assert stats.errors + stats.skipped > 0

        memcached_server.restart()

        async def recovered() -> bool:
            await double(0)
            return cache.stats().hits > hits_before

        deadline = time.monotonic() + 15
        while not await recovered():
            assert time.monotonic() < deadline, cache.stats()
            await asyncio.sleep(0.1)
