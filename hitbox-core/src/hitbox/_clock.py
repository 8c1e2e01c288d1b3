"""Time for the cache: the :class:`Clock` protocol, the real clock and a manual one.

The state machine never calls :mod:`time` or :func:`asyncio.sleep` directly: it asks its
clock for the current time, for sleeps (lock polling) and for timeouts (backend calls,
lock waits). :class:`ManualClock` moves only when a test says so, which makes timeouts,
stale windows and backoff testable without waiting on the wall clock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol, final, runtime_checkable

__all__ = ["Clock", "ManualClock", "SystemClock", "as_clock"]


@runtime_checkable
class Clock(Protocol):
    """Where the cache gets the time, sleeps and timeouts from.

    ``now()`` is unix seconds (entry timestamps are compared across processes).
    Calling the clock (``clock()``) is the same as ``clock.now()``, so a clock can be
    passed wherever a ``Callable[[], float]`` time source is expected.
    """

    def now(self) -> float:
        """Current time in unix seconds."""
        ...

    def __call__(self) -> float:
        """Same as :meth:`now`."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""
        ...

    def timeout(self, seconds: float) -> AbstractAsyncContextManager[object]:
        """An ``async with`` block that raises :class:`TimeoutError` after ``seconds``."""
        ...


@final
class SystemClock:
    """The real clock: :func:`time.time`, :func:`asyncio.sleep`, :func:`asyncio.timeout`."""

    __slots__ = ()

    now = staticmethod(time.time)
    __call__ = staticmethod(time.time)

    async def sleep(self, seconds: float) -> None:
        """Sleep on the event loop."""
        await asyncio.sleep(seconds)

    def timeout(self, seconds: float) -> AbstractAsyncContextManager[object]:
        """:func:`asyncio.timeout` (relative ``seconds``)."""
        return asyncio.timeout(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


@final
class ManualClock:
    """A clock that moves only when told to: ``await clock.advance(seconds)``.

    Sleeps and timeouts registered on it fire, in deadline order, as :meth:`advance`
    passes their deadlines; after each firing the event loop is given a few turns so the
    woken tasks can react (and register new timers within the same advance).
    """

    def __init__(self, start: float = 1_700_000_000.0, *, settle_turns: int = 20) -> None:
        self._now = float(start)
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()
        self._settle_turns = settle_turns

    def now(self) -> float:
        """The current manual time (unix seconds)."""
        return self._now

    __call__ = now

    def _timer(self, seconds: float) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self._now + max(0.0, seconds), next(self._counter), future))
        return future

    async def sleep(self, seconds: float) -> None:
        """Suspend until the clock has been advanced by ``seconds``."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future = self._timer(seconds)
        try:
            await future
        finally:
            future.cancel()  # a cancelled sleeper leaves no live timer behind

    def timeout(self, seconds: float) -> AbstractAsyncContextManager[object]:
        """Like :func:`asyncio.timeout`, but expiring when the manual clock passes it."""
        return self._timeout(seconds)

    @asynccontextmanager
    async def _timeout(self, seconds: float) -> AsyncIterator[None]:
        # Reuse asyncio's Timeout for the cancel/uncancel bookkeeping; only the moment it
        # fires comes from this clock.
        async with asyncio.timeout(None) as scope:
            future = self._timer(seconds)
            loop = asyncio.get_running_loop()
            active = [True]

            def fire(done: asyncio.Future[None]) -> None:
                # The callback may run after the block has exited (call_soon): check.
                if active[0] and not done.cancelled():
                    scope.reschedule(loop.time())

            future.add_done_callback(fire)
            try:
                yield
            finally:
                active[0] = False
                future.cancel()

    @property
    def pending_timers(self) -> int:
        """How many sleeps and timeouts are still waiting for the clock."""
        return sum(1 for _, _, future in self._timers if not future.done())

    async def settle(self) -> None:
        """Give the event loop a few turns, so tasks woken by the clock can run."""
        for _ in range(self._settle_turns):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing every timer that falls due on the way."""
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards (advance({seconds!r}))")
        target = self._now + seconds
        await self.settle()
        while self._timers and self._timers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._timers)
            if future.done():
                continue
            self._now = max(self._now, deadline)
            future.set_result(None)
            await self.settle()
        self._now = target
        await self.settle()

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now!r}, pending_timers={self.pending_timers})"


@final
class _FunctionClock:
    """A :class:`Clock` around a plain ``time.time``-like function (sleeps and timeouts on
    the event loop)."""

    __slots__ = ("now",)

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def timeout(self, seconds: float) -> AbstractAsyncContextManager[object]:
        return asyncio.timeout(seconds)

    def __repr__(self) -> str:
        return f"as_clock({self.now!r})"


def as_clock(clock: Clock | Callable[[], float] | None) -> Clock:
    """``clock`` as a :class:`Clock`: a clock as is, ``None`` as the system clock, and a
    plain time function (``time.time``-like, unix seconds) with the event loop's sleeps
    and timeouts. Everything in hitbox that takes a clock accepts all three."""
    if clock is None or clock is time.time:
        return SystemClock()
    if isinstance(clock, Clock):
        return clock
    return _FunctionClock(clock)
