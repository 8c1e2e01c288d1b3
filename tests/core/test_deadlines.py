"""``hitbox.backend._deadlines.Deadlines``: asyncio.timeout's semantics on one shared timer.

The cache's backend timeout and the Redis backend's lean read depend on these exact
semantics.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

import pytest
from hitbox.backend._deadlines import Deadlines

NEVER = 3600.0
SHORT = 0.05


async def test_an_await_that_ends_in_time_returns_its_value() -> None:
    deadlines = Deadlines()
    assert await deadlines.bound(asyncio.sleep(0, "done"), NEVER) == "done"
    assert await deadlines.bound(asyncio.sleep(0, "again"), NEVER) == "again"


async def test_an_await_past_its_deadline_raises_timeout_error() -> None:
    deadlines = Deadlines()
    with pytest.raises(TimeoutError):
        await deadlines.bound(asyncio.sleep(NEVER), SHORT)
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
    assert await deadlines.bound(asyncio.sleep(0, "next"), NEVER) == "next"


async def test_errors_of_the_await_pass_through() -> None:
    async def failing() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        await Deadlines().bound(failing(), NEVER)


async def test_an_outside_cancellation_stays_a_cancellation() -> None:
    deadlines = Deadlines()
    task = asyncio.create_task(deadlines.bound(asyncio.sleep(NEVER), NEVER))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_later_but_shorter_deadline_fires_first() -> None:
    deadlines = Deadlines()
    long_wait = asyncio.create_task(deadlines.bound(asyncio.sleep(NEVER), NEVER))
    await asyncio.sleep(0)
    with pytest.raises(TimeoutError):
        await deadlines.bound(asyncio.sleep(NEVER), SHORT)
    assert not long_wait.done()
    long_wait.cancel()
    with pytest.raises(asyncio.CancelledError):
        await long_wait


async def test_concurrent_deadlines_expire_each_on_its_own() -> None:
    deadlines = Deadlines()

    async def wait(seconds: float, limit: float) -> str:
        try:
            await deadlines.bound(asyncio.sleep(seconds), limit)
        except TimeoutError:
            return "timed out"
        return "done"

    results = await asyncio.gather(
        wait(NEVER, SHORT), wait(0, NEVER), wait(NEVER, 2 * SHORT), wait(SHORT, NEVER)
    )
    assert list(results) == ["timed out", "done", "timed out", "done"]


async def test_an_inner_deadline_inside_an_outer_one() -> None:
    outer, inner = Deadlines(), Deadlines()

    async def step() -> str:
        with pytest.raises(TimeoutError):
            await inner.bound(asyncio.sleep(NEVER), SHORT)
        return "recovered"

    assert await outer.bound(step(), NEVER) == "recovered"
    with pytest.raises(TimeoutError):  # the outer one still fires when its turn comes
        await outer.bound(inner.bound(asyncio.sleep(NEVER), NEVER), SHORT)


def test_one_instance_serves_successive_event_loops() -> None:
    deadlines = Deadlines()

    async def timed_out() -> bool:
        try:
            await deadlines.bound(asyncio.sleep(NEVER), SHORT)
        except TimeoutError:
            return True
        return False

    assert asyncio.run(timed_out())
    assert asyncio.run(timed_out())


def test_one_instance_serves_loops_running_at_once_in_threads() -> None:
    deadlines = Deadlines()

    async def outcomes() -> list[str]:
        async def wait(seconds: float, limit: float) -> str:
            try:
                await deadlines.bound(asyncio.sleep(seconds), limit)
            except TimeoutError:
                return "timed out"
            return "done"

        results: list[str] = []
        for _ in range(5):
            results += await asyncio.gather(wait(1.0, SHORT / 5), wait(0, NEVER))
        return results

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(asyncio.run, outcomes()) for _ in range(2)]
        for run in runs:
            assert run.result() == ["timed out", "done"] * 5


async def test_an_answer_there_when_a_late_timer_fires_is_kept() -> None:
    # The loop is busy past the deadline; the answer arrives meanwhile. When the loop runs
    # again, the answer's callback and the deadline's timer are due in one iteration:
    # the await ends with its answer, not with a timeout it did not cause.
    loop = asyncio.get_running_loop()
    deadlines = Deadlines()
    answer: asyncio.Future[str] = loop.create_future()
    waiter = asyncio.create_task(deadlines.bound(answer, 0.01))
    await asyncio.sleep(0)  # the waiter awaits, its deadline armed
    loop.call_later(0.005, answer.set_result, "in time")
    time.sleep(0.05)  # noqa: ASYNC251 - a long synchronous step elsewhere, on purpose
    assert await waiter == "in time"
    assert waiter.cancelling() == 0


async def test_a_late_timer_still_cancels_an_await_with_no_answer() -> None:
    deadlines = Deadlines()
    waiter = asyncio.create_task(deadlines.bound(asyncio.sleep(NEVER), 0.01))
    await asyncio.sleep(0)
    time.sleep(0.05)  # noqa: ASYNC251 - the loop busy past the deadline, on purpose
    with pytest.raises(TimeoutError):
        await waiter
