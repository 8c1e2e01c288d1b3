"""Local single-flight and tracked background work.

A :class:`Flight` is one in-progress upstream call for a key in this process. The first
caller of a cold key starts it (the *leader*); later callers wait on it, bounded by a
timeout from the cache's clock. The leader either hands over its value or lets go of the
flight (:data:`RETRY`): after an exception, a cancellation, or a result the policy
refuses to store. Waiters never see the leader's exception; they try again.

:class:`BackgroundTasks` runs stale-entry refreshes: bounded in number, tracked, and
cancelled by :meth:`BackgroundTasks.aclose`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Final, final

from hitbox._clock import Clock

__all__ = ["RETRY", "TIMED_OUT", "BackgroundTasks", "Flight", "FlightTable"]


@final
class _Signal:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


RETRY: Final = _Signal("RETRY")
"""A waiter's outcome when the leader produced no value it may share: try again."""

TIMED_OUT: Final = _Signal("TIMED_OUT")
"""A waiter's outcome when the wait outlasted its timeout."""


@final
class Flight:
    """One in-progress upstream call for one key, which other callers may wait on."""

    __slots__ = ("future", "invalidated", "key", "superseded")

    def __init__(self, key: str) -> None:
        self.key = key
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.invalidated = False
        """The key was invalidated mid-flight: the result must not be stored (and is
        deleted again if the invalidation raced with the store)."""
        self.superseded = False
        """A value was set explicitly mid-flight: the result must not overwrite it."""

    @property
    def storable(self) -> bool:
        """Whether the leader may still store its result."""
        return not (self.invalidated or self.superseded)

    @property
    def done(self) -> bool:
        """Whether waiters have been released (with a value or with :data:`RETRY`)."""
        return self.future.done()

    def resolve(self, value: Any) -> None:
        """Hand ``value`` to every waiter."""
        if not self.future.done():
            self.future.set_result(value)

    def release(self) -> None:
        """Let waiters go without a value; they retry (one of them becomes the leader)."""
        if not self.future.done():
            self.future.set_result(RETRY)

    async def wait(self, clock: Clock, seconds: float) -> Any:
        """The leader's value, :data:`RETRY`, or :data:`TIMED_OUT` after ``seconds``."""
        if self.future.done():
            return self.future.result()
        if seconds <= 0:
            return TIMED_OUT
        try:
            async with clock.timeout(seconds):
                # shield: a cancelled waiter must not cancel the flight for everyone else.
                return await asyncio.shield(self.future)
        except TimeoutError:
            return TIMED_OUT


@final
class FlightTable:
    """The flights of one cache, by key."""

    __slots__ = ("_flights",)

    def __init__(self) -> None:
        self._flights: dict[str, Flight] = {}

    def get(self, key: str) -> Flight | None:
        """The flight in progress for ``key``, if any."""
        return self._flights.get(key)

    def start(self, key: str) -> Flight:
        """Register and return a new flight for ``key``; the caller is its leader."""
        flight = Flight(key)
        self._flights[key] = flight
        return flight

    def finish(self, flight: Flight) -> None:
        """Drop ``flight`` from the table and release any waiters it did not serve."""
        if self._flights.get(flight.key) is flight:
            del self._flights[flight.key]
        flight.release()

    def invalidate(self, key: str) -> None:
        """Detach the flight for ``key`` (if any) and keep its result out of the backend.

        Callers already waiting still get its value (they asked before the
        invalidation); later callers start a new flight instead of joining this one.
        """
        flight = self._flights.pop(key, None)
        if flight is not None:
            flight.invalidated = True

    def supersede(self, key: str) -> None:
        """Detach the flight for ``key`` (if any): a value was just set explicitly."""
        flight = self._flights.pop(key, None)
        if flight is not None:
            flight.superseded = True

    def __len__(self) -> int:
        return len(self._flights)

    def __contains__(self, key: object) -> bool:
        return key in self._flights


@final
class BackgroundTasks:
    """At most ``limit`` tracked background tasks; :meth:`aclose` cancels and awaits them."""

    __slots__ = ("_closed", "_tasks", "limit")

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError(f"max_background must be >= 0, got {limit!r}")
        self.limit = limit
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def has_room(self) -> bool:
        """Whether one more task may start now."""
        return not self._closed and len(self._tasks) < self.limit

    def spawn(self, coro: Coroutine[Any, Any, None]) -> bool:
        """Start ``coro`` as a tracked task, or close it unstarted when full; started?"""
        if not self.has_room():
            coro.close()
            return False
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def __len__(self) -> int:
        return len(self._tasks)

    async def aclose(self) -> None:
        """Refuse new tasks, cancel the running ones and wait until they have stopped."""
        self._closed = True
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
