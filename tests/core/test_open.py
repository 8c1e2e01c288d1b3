"""Opening the backend: ``Cache.open``, ``async with``, and the lazy open of a first call.

The backend here is a dict whose ``open`` waits for the test's go-ahead (or fails), so
each test decides when the "connection" is up. The cache runs on the real clock with a
short ``backend_timeout``: the lazy open must not be bounded by it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import hitbox
import pytest
from hitbox import BackendError
from hitbox.tiered import TieredBackend
from hitbox_memory import MemoryBackend

from tests.core._cache_fakes import BackendDownError, DictBackend

SHORT = {"backend_timeout": 0.01, "ttl": 60}


class OpeningBackend(DictBackend):
    """A remote-looking dict backend whose ``open`` waits for :attr:`go` (or fails)."""

    def __init__(self, *, open_timeout: float = 5.0) -> None:
        super().__init__(is_local=False, stores_objects=False)
        self.open_timeout = open_timeout
        self.go = asyncio.Event()
        self.opens = 0
        self.fail_open = False
        self.connected = False

    async def open(self) -> None:
        self.opens += 1
        await self.go.wait()
        if self.fail_open:
            raise BackendDownError("connection refused")
        self.connected = True


def _counting(cache: hitbox.Cache) -> tuple[list[str], Callable[[str], Awaitable[str]]]:
    calls: list[str] = []

    @cache.cached(key="item:{name}")
    async def load(name: str) -> str:
        calls.append(name)
        return name.upper()

    return calls, load


async def test_first_calls_wait_for_the_open_beyond_backend_timeout() -> None:
    backend = OpeningBackend()
    cache = hitbox.Cache(backend, policy=SHORT)
    calls, load = _counting(cache)
    first = [asyncio.ensure_future(load(name)) for name in ("a", "b", "c")]
    await asyncio.sleep(0.05)  # five backend_timeouts: the calls still wait for the open
    assert calls == []
    assert backend.ops == []
    backend.go.set()
    assert await asyncio.gather(*first) == ["A", "B", "C"]
    assert await asyncio.gather(*(load(name) for name in ("a", "b", "c"))) == ["A", "B", "C"]
    assert calls == ["a", "b", "c"]
    assert backend.opens == 1
    assert cache.stats().hits == 3
    await cache.aclose()


async def test_async_with_opens_before_the_first_call() -> None:
    backend = OpeningBackend()
    backend.go.set()
    async with hitbox.Cache(backend, policy=SHORT) as cache:
        assert backend.connected
        assert backend.opens == 1
        assert await cache.open() is True
        await cache.set("k", 1)
        assert await cache.get("k") == 1
    assert backend.opens == 1
    assert await cache.open() is False  # closed: nothing to open


async def test_a_failed_lazy_open_is_logged_once_and_calls_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = OpeningBackend()
    backend.fail_open = True
    backend.go.set()
    cache = hitbox.Cache(backend, policy=SHORT)
    calls, load = _counting(cache)
    with caplog.at_level(logging.WARNING, logger="hitbox"):
        assert await load("a") == "A"
        assert await load("a") == "A"
    assert calls == ["a"]  # the backend works without its open: the entry was stored
    assert backend.opens == 1  # calls do not retry a failed open
    assert "open failed (BackendDownError: connection refused)" in caplog.text
    assert await cache.open() is False  # an explicit open retries
    backend.fail_open = False
    assert await cache.open() is True
    assert await cache.open() is True
    assert backend.opens == 3
    await cache.aclose()


async def test_a_slow_open_lets_calls_go_after_open_timeout() -> None:
    backend = OpeningBackend(open_timeout=0.02)
    cache = hitbox.Cache(backend, policy=SHORT)
    calls, load = _counting(cache)
    assert await load("a") == "A"  # the open is still under way
    assert calls == ["a"]
    assert not backend.connected
    backend.go.set()
    assert await cache.open() is True  # the same open, finished
    assert backend.opens == 1
    await cache.aclose()


async def test_closing_stops_an_open_under_way() -> None:
    backend = OpeningBackend(open_timeout=0.01)
    cache = hitbox.Cache(backend, policy=SHORT)
    assert await cache.open() is False  # still waiting for the go-ahead
    await cache.aclose()
    backend.go.set()
    await asyncio.sleep(0)
    assert not backend.connected


def test_each_event_loop_opens_again() -> None:
    backend = OpeningBackend()
    cache = hitbox.Cache(backend, policy=SHORT)
    _, load = _counting(cache)

    async def once() -> str:
        backend.go = asyncio.Event()  # an event of this loop
        backend.go.set()
        result: str = await load("a")
        return result

    assert asyncio.run(once()) == "A"
    assert asyncio.run(once()) == "A"
    assert backend.opens == 2


async def test_a_backend_without_open_is_never_waited_for() -> None:
    cache = hitbox.Cache(MemoryBackend())
    assert cache._opener is None
    assert await cache.open() is True
    await cache.aclose()


async def test_tiered_opens_every_tier_and_names_the_ones_that_fail() -> None:
    below = OpeningBackend()
    below.go.set()
    tiered = TieredBackend([MemoryBackend(), below], bus=None)
    await tiered.open()
    assert below.connected
    below.fail_open = True
    with pytest.raises(BackendError, match=r"tiers not opened: L2 \(dict\): BackendDownError"):
        await tiered.open()
    await tiered.aclose()


async def test_a_tiered_cache_on_its_fast_path_waits_for_the_open_too() -> None:
    below = OpeningBackend()
    tiered = TieredBackend([MemoryBackend(), below], bus=None, tier_timeout=0.01)
    assert tiered.is_local  # the cache serves L1 hits inline, without its machine
    cache = hitbox.Cache(tiered, policy={"ttl": 60})
    calls, load = _counting(cache)
    first = asyncio.ensure_future(load("a"))
    await asyncio.sleep(0.05)  # five tier timeouts
    assert below.ops == []
    below.go.set()
    assert await first == "A"
    assert below.ops == [("get", "item:a"), ("set", "item:a")]
    assert await load("a") == "A"
    assert calls == ["a"]
    await cache.aclose()
