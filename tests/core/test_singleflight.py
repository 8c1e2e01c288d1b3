"""Single-flight: one upstream call per cold key, here and across processes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hitbox import CachedValue, ManualClock, State

from tests.core._cache_fakes import (
    DictBackend,
    EventRecorder,
    LockingDictBackend,
    leftover_tasks,
    make_cache,
    settle,
)


class UpstreamError(Exception):
    pass


async def test_1000_concurrent_cold_calls_make_exactly_one_upstream_call() -> None:
    cache = make_cache()
    gate = asyncio.Event()
    calls = 0

    @cache.cached
    async def expensive(item_id: int) -> dict[str, int]:
        nonlocal calls
        calls += 1
        await gate.wait()
        return {"id": item_id}

    tasks = [asyncio.create_task(expensive(7)) for _ in range(1000)]
    await settle()
    gate.set()
    results = await asyncio.gather(*tasks)
    assert calls == 1
    assert all(result == {"id": 7} for result in results)
    stats = cache.stats()
    assert (stats.upstream_calls, stats.locked) == (1, 999)
    await cache.aclose()


async def test_1000_concurrent_cold_calls_on_the_memory_backend() -> None:
    from hitbox_memory import MemoryBackend

    clock = ManualClock()
    cache = make_cache(MemoryBackend(max_entries=100, clock=clock), clock=clock)
    gate = asyncio.Event()
    calls = 0

    @cache.cached
    async def expensive() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        return "done"

    tasks = [asyncio.create_task(expensive()) for _ in range(1000)]
    await settle()
    gate.set()
    assert set(await asyncio.gather(*tasks)) == {"done"}
    assert calls == 1
    assert await expensive() == "done"
    assert calls == 1
    await cache.aclose()


async def test_failed_leader_waiters_retry_one_at_a_time() -> None:
    cache = make_cache()
    gate = asyncio.Event()
    running = peak = calls = 0

    @cache.cached
    async def fails() -> str:
        nonlocal running, peak, calls
        calls += 1
        running += 1
        peak = max(peak, running)
        try:
            await gate.wait()
            raise UpstreamError("no")
        finally:
            running -= 1

    tasks = [asyncio.create_task(fails()) for _ in range(5)]
    await settle()
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(result, UpstreamError) for result in results)
    assert calls == 5  # nobody received the leader's exception as a value
    assert peak == 1  # ...and the retries went one at a time
    await cache.aclose()


async def test_refused_result_is_not_handed_to_waiters() -> None:
    cache = make_cache(cacheable=lambda value: value != "bad")
    gate = asyncio.Event()
    answers = iter(["bad", "good"])

    @cache.cached
    async def value() -> str:
        await gate.wait()
        return next(answers)

    leader = asyncio.create_task(value())
    await settle()
    waiter = asyncio.create_task(value())
    await settle()
    gate.set()
    assert await leader == "bad"  # its own caller still gets it
    assert await waiter == "good"  # the waiter never sees the refused value
    assert await value() == "good"  # and only the accepted one was stored
    await cache.aclose()


async def test_none_is_not_cached_unless_asked() -> None:
    cache = make_cache()
    calls = 0

    @cache.cached
    async def nothing() -> None:
        nonlocal calls
        calls += 1

    await nothing()
    await nothing()
    assert calls == 2

    @cache.cached(cache_none=True)
    async def cached_nothing() -> None:
        nonlocal calls
        calls += 1

    await cached_nothing()
    await cached_nothing()
    assert calls == 3
    await cache.aclose()


async def test_cancelled_leader_does_not_strand_waiters() -> None:
    cache = make_cache()
    gate = asyncio.Event()
    calls = 0

    @cache.cached
    async def value() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()  # the leader never finishes on its own
        await gate.wait()
        return calls

    leader = asyncio.create_task(value())
    await settle()
    waiters = [asyncio.create_task(value()) for _ in range(3)]
    await settle()
    leader.cancel()
    await settle()
    gate.set()
    assert await asyncio.gather(*waiters) == [2, 2, 2]
    assert calls == 2
    with pytest.raises(asyncio.CancelledError):
        await leader
    await cache.aclose()


async def test_cancelled_waiter_does_not_cancel_the_flight() -> None:
    cache = make_cache()
    gate = asyncio.Event()

    @cache.cached
    async def value() -> str:
        await gate.wait()
        return "v"

    leader = asyncio.create_task(value())
    await settle()
    waiter = asyncio.create_task(value())
    await settle()
    waiter.cancel()
    await settle()
    gate.set()
    assert await leader == "v"
    await cache.aclose()


async def test_a_cancelled_waiter_leaves_the_other_waiters_their_value() -> None:
    cache = make_cache()
    gate = asyncio.Event()
    calls = 0

    @cache.cached
    async def value() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        return "v"

    leader = asyncio.create_task(value())
    await settle()
    first, second, third = (asyncio.create_task(value()) for _ in range(3))
    await settle()
    second.cancel()
    await settle()
    gate.set()
    assert [await leader, await first, await third] == ["v", "v", "v"]
    assert second.cancelled()
    assert calls == 1
    await cache.aclose()


async def test_lock_none_lets_every_caller_through() -> None:
    cache = make_cache(lock="none")
    gate = asyncio.Event()
    calls = 0

    @cache.cached
    async def value() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return 1

    tasks = [asyncio.create_task(value()) for _ in range(4)]
    await settle()
    gate.set()
    await asyncio.gather(*tasks)
    assert calls == 4
    await cache.aclose()


def _shared(clock: ManualClock, n: int) -> list[LockingDictBackend]:
    store: dict[str, tuple[CachedValue, float]] = {}
    locks: dict[str, tuple[str, float]] = {}
    return [
        LockingDictBackend(is_local=False, store=store, locks=locks, clock=clock) for _ in range(n)
    ]


async def test_distributed_lock_one_upstream_call_across_processes() -> None:
    clock = ManualClock()
    recorders = [EventRecorder() for _ in range(3)]
    caches = [
        make_cache(backend, clock=clock, recorder=rec, lock="distributed")
        for backend, rec in zip(_shared(clock, 3), recorders, strict=True)
    ]
    calls = 0

    async def compute() -> str:
        nonlocal calls
        calls += 1
        await clock.sleep(0.2)
        return "shared"

    functions = [cache.cached(key="report")(compute) for cache in caches]
    tasks = [asyncio.create_task(fn()) for fn in functions for _ in range(10)]
    await clock.advance(1.0)
    assert set(await asyncio.gather(*tasks)) == {"shared"}
    assert calls == 1
    # Processes that lost the lock found the value by polling the backend.
    pollers = [rec.paths() for rec in recorders[1:]]
    for paths in pollers:
        assert (State.PENDING, State.MISS, State.LOCKED, State.RESPONSE) in paths
    assert not leftover_tasks()
    for cache in caches:
        await cache.aclose()


async def test_distributed_lock_holder_gives_up_and_a_poller_takes_over() -> None:
    clock = ManualClock()
    backend_a, backend_b = _shared(clock, 2)
    rec = EventRecorder()
    cache_a = make_cache(backend_a, clock=clock, lock="distributed")
    cache_b = make_cache(backend_b, clock=clock, recorder=rec, lock="distributed")

    @cache_a.cached(key="k")
    async def holder() -> str:
        await clock.sleep(0.05)
        raise UpstreamError("holder failed")

    @cache_b.cached(key="k")
    async def poller() -> str:
        return "from b"

    task_a = asyncio.create_task(holder())
    await settle()
    task_b = asyncio.create_task(poller())
    await clock.advance(0.5)
    with pytest.raises(UpstreamError):
        await task_a
    assert await task_b == "from b"
    assert rec.paths() == [(State.PENDING, State.MISS, State.LOCKED, State.MISS, State.RESPONSE)]
    assert backend_b.locks == {}  # released after storing
    await cache_a.aclose()
    await cache_b.aclose()


async def test_distributed_wait_is_bounded_by_lock_timeout() -> None:
    clock = ManualClock()
    backend_a, backend_b = _shared(clock, 2)
    cache_a = make_cache(backend_a, clock=clock, lock="distributed", lock_timeout=1)
    cache_b = make_cache(backend_b, clock=clock, lock="distributed", lock_timeout=1)
    gate = asyncio.Event()

    @cache_a.cached(key="k")
    async def stuck() -> str:
        await gate.wait()
        return "late"

    @cache_b.cached(key="k")
    async def impatient() -> str:
        return "own"

    task_a = asyncio.create_task(stuck())
    await settle()
    task_b = asyncio.create_task(impatient())
    await clock.advance(0.9)
    assert not task_b.done()
    polls = backend_b.calls("get")
    assert 5 <= polls <= 15  # backoff (5 ms doubling to 100 ms), not a busy loop
    await clock.advance(0.2)
    assert await task_b == "own"
    gate.set()
    assert await task_a == "late"
    await cache_a.aclose()
    await cache_b.aclose()


async def test_distributed_falls_back_to_local_without_the_capability() -> None:
    cache = make_cache(DictBackend(), lock="distributed")
    gate = asyncio.Event()
    calls = 0

    @cache.cached
    async def value() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return 1

    tasks: list[asyncio.Task[Any]] = [asyncio.create_task(value()) for _ in range(5)]
    await settle()
    gate.set()
    await asyncio.gather(*tasks)
    assert calls == 1
    await cache.aclose()
