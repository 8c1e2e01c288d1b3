"""The remote-backend path: a timeout is armed only when the backend call suspends."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager

import pytest
from hitbox import ManualClock

from tests.core._cache_fakes import DictBackend, make_cache


class CountingClock:
    """A manual clock that counts the timeouts armed on it."""

    def __init__(self) -> None:
        self.inner = ManualClock()
        self.timeouts = 0

    def now(self) -> float:
        return self.inner.now()

    def __call__(self) -> float:
        return self.inner.now()

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)

    def timeout(self, seconds: float) -> AbstractAsyncContextManager[object]:
        self.timeouts += 1
        return self.inner.timeout(seconds)

    async def advance(self, seconds: float) -> None:
        await self.inner.advance(seconds)


async def test_an_answer_without_io_wait_arms_no_timeout() -> None:
    clock = CountingClock()
    backend = DictBackend(is_local=False, stores_objects=False)
    cache = make_cache(backend, clock=clock)  # type: ignore[arg-type]

    @cache.cached(key="k")
    async def value() -> int:
        return 1

    assert [await value() for _ in range(3)] == [1, 1, 1]
    assert cache.stats().hits == 2
    assert clock.timeouts == 0
    await cache.aclose()


@pytest.mark.parametrize("outcome", ["value", "error", "hang"])
async def test_a_suspending_backend_call_runs_under_the_timeout(outcome: str) -> None:
    clock = CountingClock()
    backend = DictBackend(is_local=False, stores_objects=False)
    backend.yielding = True  # every operation suspends once before answering
    if outcome == "error":
        backend.fail_ops = {"get"}
    elif outcome == "hang":
        backend.hang_ops = {"get"}
    cache = make_cache(backend, clock=clock, backend_timeout=0.5)  # type: ignore[arg-type]

    @cache.cached(key="k")
    async def value() -> int:
        return 1

    task = asyncio.create_task(value())
    await clock.advance(0.5)
    assert await task == 1
    assert clock.timeouts >= 1
    assert cache.stats().errors == (0 if outcome == "value" else 1)
    await cache.aclose()
