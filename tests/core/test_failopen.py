"""Fail-open: a backend that raises, hangs or returns garbage never breaks the caller."""

from __future__ import annotations

import asyncio
import logging

import hitbox
import pytest
from hitbox import CachedValue, ManualClock
from hitbox.keys import DefaultKeyStrategy
from hitbox.serializers import CborSerializer

from tests.core._cache_fakes import (
    DictBackend,
    EventRecorder,
    leftover_tasks,
    make_cache,
    plugin_manager,
    settle,
)

UPSTREAM_SECONDS = 0.1


def _timed_upstream(clock: ManualClock) -> tuple[list[int], object]:
    calls: list[int] = []

    async def upstream(x: int) -> int:
        calls.append(x)
        await clock.sleep(UPSTREAM_SECONDS)
        return x * 10

    return calls, upstream


@pytest.mark.parametrize("is_local", [True, False])
async def test_raising_backend(is_local: bool) -> None:
    clock = ManualClock()
    backend = DictBackend(is_local=is_local, clock=clock)
    backend.failing = True
    cache = make_cache(backend, clock=clock, failure_threshold=1000)

    @cache.cached
    async def value(x: int) -> int:
        return x * 10

    assert [await value(i % 3) for i in range(9)] == [0, 10, 20] * 3
    stats = cache.stats()
    assert stats.upstream_calls == 9
    assert stats.errors == 9  # reads failed; no write was attempted after them
    await cache.aclose()


async def test_hanging_backend_answers_within_backend_timeout_plus_upstream_time() -> None:
    clock = ManualClock()
    backend = DictBackend(is_local=False, clock=clock)
    backend.hanging = True
    cache = make_cache(backend, clock=clock, backend_timeout=0.25, failure_threshold=1000)
    _calls, upstream = _timed_upstream(clock)
    value = cache.cached(upstream)  # type: ignore[arg-type]

    started = clock.now()
    task = asyncio.create_task(value(4))
    await clock.advance(0.25 + UPSTREAM_SECONDS)
    assert task.done()
    assert await task == 40
    assert clock.now() - started <= 0.25 + UPSTREAM_SECONDS
    await cache.aclose()
    assert not leftover_tasks()


async def test_hanging_write_costs_at_most_one_backend_timeout() -> None:
    clock = ManualClock()
    backend = DictBackend(is_local=False, clock=clock)
    backend.hang_ops = {"set"}
    cache = make_cache(backend, clock=clock, backend_timeout=0.25)
    _calls, upstream = _timed_upstream(clock)
    value = cache.cached(upstream)  # type: ignore[arg-type]

    task = asyncio.create_task(value(1))
    await clock.advance(UPSTREAM_SECONDS + 0.25)
    assert await task == 10
    assert cache.stats().errors == 1
    await cache.aclose()


@pytest.mark.parametrize(
    "garbage",
    [
        "not an entry",
        CachedValue(b"\xff\xfe\xfd", 0.0, 1e12, 1e12),  # undecodable payload
        CachedValue(b"", 0.0, "soon", None),  # type: ignore[arg-type]  # fields of the wrong type
    ],
)
@pytest.mark.parametrize("is_local", [True, False])
async def test_garbage_returning_backend(garbage: object, is_local: bool) -> None:
    clock = ManualClock()
    backend = DictBackend(is_local=is_local, stores_objects=False, clock=clock)
    backend.garbage = garbage
    cache = make_cache(backend, clock=clock)

    @cache.cached
    async def value(x: int) -> int:
        return x + 1

    assert await value(1) == 2
    assert await value(1) == 2
    assert cache.stats().errors == 2
    await cache.aclose()


async def test_garbage_in_object_mode_is_caught_on_the_fast_path() -> None:
    backend = DictBackend()  # in-process, object mode: the fast path reads it first
    backend.garbage = 12345
    cache = make_cache(backend)

    @cache.cached
    async def value() -> str:
        return "upstream"

    assert await value() == "upstream"
    await cache.aclose()


async def test_circuit_breaker_opens_then_probes() -> None:
    clock = ManualClock()
    backend = DictBackend(is_local=False, clock=clock)
    backend.failing = True
    cache = make_cache(backend, clock=clock, failure_threshold=3, cooldown=10)

    @cache.cached
    async def value(x: int = 0) -> int:
        return 1

    for x in range(3):  # failures over several keys: the backend is down
        assert await value(x) == 1
    assert cache.breaker_state == "open"
    reads = backend.calls("get")
    for _ in range(20):
        assert await value() == 1
    assert backend.calls("get") == reads  # the backend is not called while open
    assert cache.stats().skipped >= 20

    await clock.advance(10)
    assert cache.breaker_state == "half-open"
    assert await value() == 1  # the probe fails: open again
    assert backend.calls("get") == reads + 1
    assert cache.breaker_state == "open"

    backend.failing = False
    await clock.advance(10)
    assert await value() == 1  # the probe succeeds: closed, and the value is stored
    assert cache.breaker_state == "closed"
    assert await value() == 1
    assert cache.stats().hits == 1
    await cache.aclose()


async def test_warnings_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    backend = DictBackend()
    backend.failing = True
    cache = make_cache(backend, failure_threshold=1000)

    @cache.cached
    async def value() -> int:
        return 1

    with caplog.at_level(logging.WARNING, logger="hitbox"):
        for _ in range(50):
            await value()
    warnings = [r for r in caplog.records if r.name == "hitbox"]
    assert len(warnings) == 1
    assert "get failed" in warnings[0].getMessage()
    assert "calling the upstream instead" in warnings[0].getMessage()
    await cache.aclose()


async def test_failing_event_plugin_does_not_break_calls() -> None:
    class Broken:
        @hitbox.hookimpl
        def hitbox_cache_event(self, event: object) -> None:
            raise RuntimeError("plugin bug")

    cache = hitbox.Cache(
        DictBackend(),
        serializer=CborSerializer(),
        key_strategy=DefaultKeyStrategy(),
        plugins=plugin_manager(Broken()),
    )

    @cache.cached
    async def value() -> int:
        return 3

    assert await value() == 3
    assert await value() == 3
    await cache.aclose()


async def test_aclose_cancels_background_refreshes_and_closes_the_backend() -> None:
    clock = ManualClock()
    backend = DictBackend(clock=clock)
    rec = EventRecorder()
    cache = make_cache(backend, clock=clock, recorder=rec, ttl=1, max_stale=100)
    calls = 0

    @cache.cached
    async def value() -> int:
        nonlocal calls
        calls += 1
        if calls > 1:
            await asyncio.Event().wait()  # the refresh hangs forever
        return calls

    assert await value() == 1
    await clock.advance(2)
    assert await value() == 1  # stale; refresh started
    await settle()
    assert cache.background_tasks == 1
    assert await value() == 1  # one refresh per key: no second task
    assert cache.background_tasks == 1
    await cache.aclose()
    assert cache.background_tasks == 0
    assert not leftover_tasks()
    assert backend.closed
    await cache.aclose()  # idempotent
    # A closed cache is bypassed, not broken.
    calls = -100
    assert await value() == -99


async def test_background_refreshes_are_bounded() -> None:
    clock = ManualClock()
    cache = hitbox.Cache(
        DictBackend(clock=clock),
        serializer=CborSerializer(),
        key_strategy=DefaultKeyStrategy(),
        policy=hitbox.Policy(ttl=1, max_stale=100),
        clock=clock,
        plugins=plugin_manager(),
        max_background=2,
    )
    gate = asyncio.Event()
    first = True

    @cache.cached
    async def value(x: int) -> int:
        if not first:
            await gate.wait()
        return x

    for x in range(5):
        await value(x)
    first = False
    await clock.advance(2)
    assert [await value(x) for x in range(5)] == [0, 1, 2, 3, 4]  # all stale, served
    await settle()
    assert cache.background_tasks == 2
    assert cache.stats().refreshes == 2
    gate.set()
    await settle()
    assert cache.background_tasks == 0
    await cache.aclose()


async def test_corrupt_entry_raised_by_the_backend_is_a_miss_not_an_outage() -> None:
    class Corrupting(DictBackend):
        async def get(self, key: str) -> CachedValue | None:
            raise hitbox.CorruptEntry("bad signature")

    rec = EventRecorder()
    cache = make_cache(Corrupting(), recorder=rec, failure_threshold=1)

    @cache.cached
    async def value() -> int:
        return 5

    assert await value() == 5
    assert await value() == 5
    assert cache.breaker_state == "closed"
    assert [e.describe() for e in rec.events] == ["PENDING → MISS → RESPONSE"] * 2
    assert rec.events[0].error == "CorruptEntry: bad signature"
    await cache.aclose()
