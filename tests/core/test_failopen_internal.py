"""Fail-open against the cache's own failures: a second backend failure in one run, a
backend raising what it should not, a bug in the machine — the caller gets the
upstream's answer (or the upstream's own exception), never an error of the cache."""

from __future__ import annotations

import asyncio
from typing import Any

import hitbox
import pytest
from hitbox import CachedValue, ManualClock
from hitbox.engine._counters import Counters
from hitbox.engine._machine import Call, Machine
from hitbox.policy import Policy

from tests.core._cache_fakes import (
    DictBackend,
    EventRecorder,
    LockingDictBackend,
    make_cache,
    settle,
)
from tests.core.test_fsm import FakeIo


async def test_lock_failure_after_a_failed_read_fails_open() -> None:
    clock = ManualClock()
    backend = LockingDictBackend(is_local=False, clock=clock)
    backend.fail_ops = {"get"}
    backend.lock_failing = True
    rec = EventRecorder()
    cache = make_cache(backend, clock=clock, recorder=rec, lock="distributed")

    @cache.cached(key="k")
    async def value() -> int:
        return 1

    assert await value() == 1
    assert [e.describe() for e in rec.events] == ["PENDING → ERROR → RESPONSE"]
    assert "lock service down" in (rec.events[0].error or "")
    await cache.aclose()


async def test_lock_failure_after_a_read_timeout_fails_open() -> None:
    """The reported case: the read times out, then ``acquire_lock`` raises."""
    clock = ManualClock()
    backend = LockingDictBackend(is_local=False, clock=clock)
    backend.hang_ops = {"get"}
    backend.lock_failing = True
    cache = make_cache(backend, clock=clock, lock="distributed", backend_timeout=0.5)

    @cache.cached(key="k")
    async def value() -> int:
        return 1

    task = asyncio.create_task(value())
    await clock.advance(0.5)
    assert await task == 1
    await cache.aclose()


@pytest.mark.parametrize("op", ["acquire_lock", "set", "release_lock"])
async def test_corrupt_entry_from_a_write_or_lock_is_a_backend_failure(op: str) -> None:
    class Odd(LockingDictBackend):
        async def acquire_lock(self, key: str, ttl: float) -> str | None:
            if op == "acquire_lock":
                raise hitbox.CorruptEntry("odd")
            return await super().acquire_lock(key, ttl)

        async def release_lock(self, key: str, token: str) -> None:
            if op == "release_lock":
                raise hitbox.CorruptEntry("odd")
            await super().release_lock(key, token)

        async def set(self, key: str, value: CachedValue, ttl: float) -> None:
            if op == "set":
                raise hitbox.CorruptEntry("odd")
            await super().set(key, value, ttl)

    cache = make_cache(Odd(), lock="distributed", failure_threshold=1000)

    @cache.cached(key="k")
    async def value() -> int:
        return 7

    assert await value() == 7
    assert cache.stats().errors == 1
    assert await cache.set("other", 1) is (op != "set")
    await cache.aclose()


class BrokenStoreIo(FakeIo):
    """An Io breaking its contract: ``store`` raises."""

    async def store(self, call: Call, value: Any, created_at: float) -> bool:
        raise RuntimeError("bug in store")


class BrokenReadIo(FakeIo):
    """An Io breaking its contract: ``read`` raises something unexpected."""

    async def read(self, call: Call) -> CachedValue | None:
        raise RuntimeError("bug in read")


@pytest.mark.parametrize("io_type", [BrokenStoreIo, BrokenReadIo])
async def test_internal_error_answers_from_the_upstream_once(io_type: type[FakeIo]) -> None:
    clock = ManualClock()
    counters = Counters()
    machine = Machine(io_type(clock), clock, counters)
    calls: list[int] = []

    async def upstream() -> str:
        calls.append(1)
        return "v"

    assert await machine.execute(Call("k", Policy(), upstream)) == "v"
    assert len(calls) == 1
    assert counters.errors == 1
    assert counters.upstream_calls == 1
    assert "k" not in machine.flights


async def test_internal_error_keeps_the_upstreams_own_exception() -> None:
    clock = ManualClock()
    machine = Machine(BrokenReadIo(clock), clock, Counters())

    async def upstream() -> str:
        raise ValueError("upstream says no")

    with pytest.raises(ValueError, match="upstream says no"):
        await machine.execute(Call("k", Policy(), upstream))


async def test_internal_error_is_logged_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    machine = Machine(BrokenStoreIo(clock), clock, Counters())

    async def upstream() -> str:
        return "v"

    for _ in range(5):
        assert await machine.execute(Call("k", Policy(), upstream)) == "v"
    warnings = [r for r in caplog.records if "bug in store" in r.getMessage()]
    assert len(warnings) == 1


async def test_unexpected_exception_from_a_local_backend_read_fails_open() -> None:
    class Weird(DictBackend):
        async def get(self, key: str) -> CachedValue | None:
            raise KeyError(key)

    cache = make_cache(Weird(), failure_threshold=1000)

    @cache.cached(key="k")
    async def value() -> int:
        return 3

    assert await value() == 3
    await cache.aclose()


class Unprintable:
    """An argument no template can render."""

    def __format__(self, spec: str) -> str:
        raise ValueError("cannot format")

    def __str__(self) -> str:
        raise ValueError("cannot format")


@pytest.mark.parametrize("is_local", [True, False])
async def test_failing_tag_template_goes_upstream_uncached(
    is_local: bool, caplog: pytest.LogCaptureFixture
) -> None:
    backend = DictBackend(is_local=is_local)
    cache = make_cache(backend)
    calls: list[int] = []

    @cache.cached(key="k", tags=["t:{x}"])
    async def value(x: object) -> int:
        calls.append(1)
        return len(calls)

    assert [await value(Unprintable()) for _ in range(3)] == [1, 2, 3]
    assert backend.calls("set") == 0
    assert cache.stats().upstream_calls == 3
    warnings = [r for r in caplog.records if "no cache tags" in r.getMessage()]
    assert len(warnings) == 1
    await cache.aclose()


async def test_failing_request_tags_go_upstream_uncached() -> None:
    cache = make_cache()

    class Request:
        def cache_key(self) -> str:
            return "page"

        def cache_ttl(self) -> float:
            return 60.0

        def cache_tags(self) -> list[str]:
            raise RuntimeError("no tags today")

    async def upstream(request: Request) -> str:
        return "body"

    assert await cache.fetch(Request(), upstream) == "body"
    assert cache.stats().upstream_calls == 1
    await cache.aclose()


async def test_broken_cacheable_predicate_warns_rate_limited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(value: object) -> bool:
        raise ZeroDivisionError("predicate bug")

    cache = make_cache(cacheable=broken)

    @cache.cached(key="k")
    async def value() -> int:
        return 1

    for _ in range(5):
        assert await value() == 1
    warnings = [r for r in caplog.records if "predicate bug" in r.getMessage()]
    assert len(warnings) == 1
    await cache.aclose()


async def test_failing_background_refresh_warns_rate_limited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    cache = make_cache(clock=clock, ttl=1, max_stale=1000)
    fail = False

    @cache.cached(key="k")
    async def value() -> int:
        if fail:
            raise OSError("refresh upstream down")
        return 1

    assert await value() == 1
    fail = True
    for _ in range(5):
        await clock.advance(2)
        assert await value() == 1  # stale, refreshed in the background
        await settle()
    warnings = [r for r in caplog.records if "refresh upstream down" in r.getMessage()]
    assert len(warnings) == 1
    await cache.aclose()
