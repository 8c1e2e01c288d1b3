"""One test per transition: each scenario asserts the exact state path of its runs.

Paths are observed the way a metrics plugin sees them, through ``hitbox_cache_event``.
``test_every_transition_is_exercised`` checks that the scenarios below, together, walk
every edge of the transition table.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

import pytest
from hitbox import CachedValue, ManualClock, State
from hitbox.fsm import TRANSITIONS

from tests.core._cache_fakes import (
    DictBackend,
    EventRecorder,
    LockingDictBackend,
    make_cache,
    settle,
)

P, H, S, M, L, E, R = (
    State.PENDING,
    State.HIT,
    State.STALE,
    State.MISS,
    State.LOCKED,
    State.ERROR,
    State.RESPONSE,
)

PATHS = {
    "cold_miss": (P, M, R),
    "hit": (P, H, R),
    "stale": (P, S, R),
    "refresh": (M, R),
    "backend_error": (P, E, R),
    "undecodable_hit": (P, H, M, R),
    "undecodable_stale": (P, S, M, R),
    "waiter": (P, M, L, R),
    "waiter_retry": (P, M, L, M, R),
    "stale_if_error": (P, M, S, R),
    "lock_error": (P, M, E, R),
    "poll_error": (P, M, L, E, R),
    "waiter_timeout_stale": (P, M, L, S, R),
    "error_waiter": (P, E, L, R),
    "lock_error_stale": (P, M, E, S, R),
}


class UpstreamError(Exception):
    pass


def test_every_transition_is_exercised() -> None:
    walked = {(a, b) for path in PATHS.values() for a, b in itertools.pairwise(path)}
    table = {(a, b) for a, nexts in TRANSITIONS.items() for b in nexts}
    assert walked == table


async def test_cold_miss_then_hit() -> None:
    rec = EventRecorder()
    cache = make_cache(recorder=rec)

    @cache.cached
    async def double(x: int) -> int:
        return x * 2

    assert await double(21) == 42
    assert await double(21) == 42
    assert rec.paths() == [PATHS["cold_miss"], PATHS["hit"]]
    assert rec.events[0].upstream_called
    assert not rec.events[1].upstream_called
    await cache.aclose()


async def test_stale_is_served_and_refreshed_in_background() -> None:
    rec, clock = EventRecorder(), ManualClock()
    cache = make_cache(clock=clock, recorder=rec, ttl=10, max_stale=10)
    versions = itertools.count(1)

    @cache.cached
    async def version() -> int:
        return next(versions)

    assert await version() == 1
    await clock.advance(15)
    assert await version() == 1  # stale, served at once
    await settle()
    assert await version() == 2  # the refresh stored a new value
    assert rec.paths("cached") == [PATHS["cold_miss"], PATHS["stale"], PATHS["hit"]]
    assert rec.paths("refresh") == [PATHS["refresh"]]
    assert cache.stats().refreshes == 1
    await cache.aclose()


async def test_backend_error_goes_straight_to_upstream() -> None:
    rec = EventRecorder()
    backend = DictBackend()
    backend.failing = True
    cache = make_cache(backend, recorder=rec)

    @cache.cached
    async def answer() -> int:
        return 42

    assert await answer() == 42
    assert rec.paths() == [PATHS["backend_error"]]
    assert "connection refused" in (rec.events[0].error or "")
    await cache.aclose()


@pytest.mark.parametrize(("age", "name"), [(1, "undecodable_hit"), (15, "undecodable_stale")])
async def test_undecodable_entry_is_a_miss(age: float, name: str) -> None:
    rec, clock = EventRecorder(), ManualClock()
    backend = DictBackend(stores_objects=False, clock=clock)
    cache = make_cache(backend, clock=clock, recorder=rec, ttl=10, max_stale=10)

    @cache.cached
    async def answer() -> int:
        return 42

    key = answer.cache_key()
    now = clock.now()
    backend.store[key] = (CachedValue(b"\xff\x00garbage", now, now + 10, now + 20), now + 100)
    await clock.advance(age)
    assert await answer() == 42
    assert rec.paths() == [PATHS[name]]
    assert cache.stats().errors == 1
    await cache.aclose()


async def test_waiter_gets_the_leaders_value() -> None:
    rec = EventRecorder()
    cache = make_cache(recorder=rec)
    gate = asyncio.Event()
    calls = 0

    @cache.cached
    async def slow() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        return "value"

    leader = asyncio.create_task(slow())
    await settle()
    waiter = asyncio.create_task(slow())
    await settle()
    gate.set()
    assert await leader == await waiter == "value"
    assert calls == 1
    assert Counter(rec.paths()) == Counter([PATHS["cold_miss"], PATHS["waiter"]])
    await cache.aclose()


async def test_waiter_retries_when_the_leader_fails() -> None:
    rec = EventRecorder()
    cache = make_cache(recorder=rec)
    gate = asyncio.Event()
    calls = 0

    @cache.cached
    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await gate.wait()
            raise UpstreamError("first call fails")
        return "second"

    leader = asyncio.create_task(flaky())
    await settle()
    waiter = asyncio.create_task(flaky())
    await settle()
    gate.set()
    with pytest.raises(UpstreamError):
        await leader
    assert await waiter == "second"
    leader_event = next(e for e in rec.events if e.upstream_error)
    assert leader_event.path == PATHS["cold_miss"]
    assert PATHS["waiter_retry"] in rec.paths()
    await cache.aclose()


async def test_stale_if_error_serves_the_old_value() -> None:
    rec, clock = EventRecorder(), ManualClock()
    cache = make_cache(clock=clock, recorder=rec, ttl=10, stale_if_error=100)
    fail = False

    @cache.cached
    async def price() -> int:
        if fail:
            raise UpstreamError("upstream down")
        return 7

    assert await price() == 7
    await clock.advance(20)
    fail = True
    assert await price() == 7
    assert rec.paths()[-1] == PATHS["stale_if_error"]
    assert rec.events[-1].upstream_error == "UpstreamError: upstream down"
    await clock.advance(200)  # beyond the stale-if-error window: the error surfaces
    with pytest.raises(UpstreamError):
        await price()
    await cache.aclose()


async def test_lock_failure_is_a_backend_error() -> None:
    rec, clock = EventRecorder(), ManualClock()
    backend = LockingDictBackend(clock=clock)
    backend.lock_failing = True
    cache = make_cache(backend, clock=clock, recorder=rec, lock="distributed")

    @cache.cached
    async def answer() -> int:
        return 42

    assert await answer() == 42
    assert rec.paths() == [PATHS["lock_error"]]
    await cache.aclose()


async def test_lock_failure_then_upstream_failure_serves_stale() -> None:
    rec, clock = EventRecorder(), ManualClock()
    backend = LockingDictBackend(clock=clock)
    cache = make_cache(
        backend, clock=clock, recorder=rec, lock="distributed", ttl=10, stale_if_error=100
    )
    fail = False

    @cache.cached
    async def answer() -> int:
        if fail:
            raise UpstreamError("down")
        return 42

    assert await answer() == 42
    await clock.advance(20)
    backend.lock_failing, fail = True, True
    assert await answer() == 42
    assert rec.paths()[-1] == PATHS["lock_error_stale"]
    await cache.aclose()


def _two_processes(
    clock: ManualClock,
) -> tuple[LockingDictBackend, LockingDictBackend]:
    store: dict[str, tuple[CachedValue, float]] = {}
    locks: dict[str, tuple[str, float]] = {}
    first = LockingDictBackend(is_local=False, store=store, locks=locks, clock=clock)
    second = LockingDictBackend(is_local=False, store=store, locks=locks, clock=clock)
    return first, second


async def test_polling_failure_is_a_backend_error() -> None:
    clock = ManualClock()
    backend_a, backend_b = _two_processes(clock)
    rec = EventRecorder()
    cache_a = make_cache(backend_a, clock=clock, lock="distributed")
    cache_b = make_cache(backend_b, clock=clock, recorder=rec, lock="distributed")
    gate = asyncio.Event()

    async def compute() -> int:
        await gate.wait()
        return 1

    fn_a = cache_a.cached(key="k")(compute)

    @cache_b.cached(key="k")
    async def fn_b() -> int:
        return 2

    task_a = asyncio.create_task(fn_a())
    await settle()
    task_b = asyncio.create_task(fn_b())
    await settle()  # B found the lock taken and is polling
    backend_b.failing = True
    await clock.advance(0.01)
    assert await task_b == 2
    assert rec.paths() == [PATHS["poll_error"]]
    gate.set()
    assert await task_a == 1
    await cache_a.aclose()
    await cache_b.aclose()


async def test_waiter_times_out_and_falls_back_to_stale() -> None:
    rec, clock = EventRecorder(), ManualClock()
    cache = make_cache(clock=clock, recorder=rec, ttl=10, stale_if_error=100, lock_timeout=1)
    calls = 0
    gate = asyncio.Event()

    @cache.cached
    async def value() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            return "old"
        if calls == 2:
            await gate.wait()
            return "never shared in time"
        raise UpstreamError("upstream down")

    assert await value() == "old"
    await clock.advance(20)
    leader = asyncio.create_task(value())
    await settle()
    waiter = asyncio.create_task(value())
    await settle()
    await clock.advance(1.5)
    assert await waiter == "old"
    assert rec.paths()[-1] == PATHS["waiter_timeout_stale"]
    gate.set()
    await leader
    await cache.aclose()


async def test_local_single_flight_holds_while_the_backend_is_down() -> None:
    rec = EventRecorder()
    backend = DictBackend()
    backend.failing = True
    cache = make_cache(backend, recorder=rec)
    gate = asyncio.Event()

    @cache.cached
    async def slow() -> int:
        await gate.wait()
        return 5

    tasks = [asyncio.create_task(slow()) for _ in range(3)]
    await settle()
    gate.set()
    assert await asyncio.gather(*tasks) == [5, 5, 5]
    assert Counter(rec.paths()) == Counter(
        [PATHS["backend_error"], PATHS["error_waiter"], PATHS["error_waiter"]]
    )
    assert cache.stats().upstream_calls == 1
    await cache.aclose()
