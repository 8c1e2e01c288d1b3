"""Deadlines for many short awaits on one shared timer per event loop: :class:`Deadlines`.

The cache bounds every remote backend call with ``backend_timeout`` and the Redis backend
bounds every socket read; with :func:`asyncio.timeout` each of those schedules and
cancels a timer, a tenth of a loopback Redis round trip in Python.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import Awaitable
from typing import Any, TypeVar, final

__all__ = ["Deadlines"]

_T = TypeVar("_T")


@final
class _Deadline:
    """One bounded await: its deadline (loop time), its task, whether it expired, and
    whether the await is over (then it is never cancelled)."""

    __slots__ = ("expired", "settled", "task", "when")

    def __init__(self, when: float, task: asyncio.Task[Any]) -> None:
        self.when = when
        self.task = task
        self.expired = False
        self.settled = False


@final
class _Watch:
    """The deadlines in flight on one event loop, and one timer at the earliest of them."""

    __slots__ = ("armed_at", "handle", "loop", "pending")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: set[_Deadline] = set()
        self.handle: asyncio.TimerHandle | None = None
        self.armed_at = math.inf

    def schedule(self, when: float) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.armed_at = when
        self.handle = self.loop.call_at(when, self._expire)

    def _expire(self) -> None:
        self.handle = None
        self.armed_at = math.inf
        now = self.loop.time()
        due = [deadline for deadline in self.pending if deadline.when <= now]
        for deadline in due:
            self.pending.discard(deadline)
        # Cancelled one loop iteration later: when the loop was busy past a deadline, the
        # answer that arrived meanwhile has woken its task in this iteration, and that
        # task then runs first and ends its await instead of being cancelled.
        self.loop.call_soon(_cancel, due)
        if self.pending:
            self.schedule(min(deadline.when for deadline in self.pending))


def _cancel(due: list[_Deadline]) -> None:
    for deadline in due:
        if not deadline.settled and not deadline.task.done():
            deadline.expired = True
            deadline.task.cancel()


@final
class Deadlines:
    """:func:`asyncio.timeout` for many short awaits, on one shared timer per event loop.

    ``asyncio.timeout`` schedules and cancels a timer per block: a few microseconds of
    Python per call -- a tenth of a loopback Redis round trip -- and a cancelled handle
    left in the loop's heap each time. Here one timer, armed at the earliest deadline in
    flight, watches every await; an await that ends in time only leaves a set.

    Expiry is :func:`asyncio.timeout`'s: the task is cancelled and, unless something
    else cancelled it too, the ``CancelledError`` leaves :meth:`bound` as
    :class:`TimeoutError`. Deadlines are exact (the timer fires at the earliest one and
    re-arms for the next), but the cancellation comes one loop iteration after the
    timer: an await whose answer is already there when the timer fires -- the loop was
    busy past the deadline (a long synchronous step elsewhere) -- ends with its answer
    rather than a timeout it did not cause. One instance may serve several event loops,
    one after the other or at once in different threads.
    """

    __slots__ = ("_last", "_watches")

    def __init__(self) -> None:
        self._watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watch] = (
            weakref.WeakKeyDictionary()
        )
        # The loop of the last call and its watch, as one tuple: threads swap it whole.
        self._last: tuple[asyncio.AbstractEventLoop | None, _Watch | None] = (None, None)

    async def bound(self, awaitable: Awaitable[_T], seconds: float) -> _T:
        """``await awaitable``, raising :class:`TimeoutError` after ``seconds``."""
        # One function on purpose: this runs around every remote backend call.
        loop = asyncio.get_running_loop()
        last_loop, watch = self._last
        if last_loop is not loop or watch is None:
            watch = self._watch(loop)
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("a deadline needs to run inside a task")
        cancelling = task.cancelling()
        deadline = _Deadline(loop.time() + seconds, task)
        pending = watch.pending
        pending.add(deadline)
        if deadline.when < watch.armed_at:
            watch.schedule(deadline.when)
        try:
            result = await awaitable
        except asyncio.CancelledError as exc:
            deadline.settled = True
            pending.discard(deadline)
            # Ours only if nobody else cancelled the task too (asyncio.timeout's rule).
            if deadline.expired and task.uncancel() <= cancelling:
                raise TimeoutError from exc
            raise
        except BaseException:
            deadline.settled = True
            pending.discard(deadline)
            if deadline.expired:
                task.uncancel()
            raise
        deadline.settled = True
        pending.discard(deadline)
        if deadline.expired:
            task.uncancel()
        return result

    def _watch(self, loop: asyncio.AbstractEventLoop) -> _Watch:
        watch = self._watches.get(loop)
        if watch is None:
            watch = self._watches[loop] = _Watch(loop)
        self._last = (loop, watch)
        return watch
