"""Helpers for the sync tests: drive a cache's private loop, wait for threads' states.

Waiting is by condition, never by a timed assertion: :func:`wait_until` polls a
condition until it holds (pytest-timeout ends a test that never gets there).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import hitbox

T = TypeVar("T")


def on_loop(cache: hitbox.Cache, coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on ``cache``'s private loop (where its sync runs and timers live)."""
    return cache._loop_thread.run(coro)


def advance(cache: hitbox.Cache, clock: hitbox.ManualClock, seconds: float) -> None:
    """Move ``clock`` on the cache's loop, firing the timers its runs set there."""
    on_loop(cache, clock.advance(seconds))


async def _drain() -> None:
    current = asyncio.current_task()
    while tasks := [task for task in asyncio.all_tasks() if task is not current]:
        await asyncio.gather(*tasks, return_exceptions=True)


def drain(cache: hitbox.Cache) -> None:
    """Wait until every task on the cache's loop (background refreshes) has finished."""
    on_loop(cache, _drain())


def wait_until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` until it holds."""
    while not condition():
        time.sleep(0.001)


class Runner:
    """Calls ``func`` in a thread of its own; :meth:`result` joins and returns or raises."""

    def __init__(self, func: Callable[[], Any]) -> None:
        self._outcome: list[tuple[bool, Any]] = []

        def main() -> None:
            try:
                self._outcome.append((True, func()))
            except BaseException as exc:
                self._outcome.append((False, exc))

        self.thread = threading.Thread(target=main)
        self.thread.start()

    def result(self) -> Any:
        self.thread.join()
        ok, value = self._outcome[0]
        if not ok:
            raise value
        return value
