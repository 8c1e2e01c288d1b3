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
from collections.abc import Coroutine, Iterable
from typing import Any, Final, final

from hitbox._clock import Clock
from hitbox.backend._deadlines import Deadlines

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

_PENDING: Final = _Signal("PENDING")


@final
class Flight:
    """One in-progress upstream call for one key, which other callers may wait on.

    A *shared* flight is the key's single flight that later callers join; a *solo*
    flight (``lock="none"``, or a waiter that gave up waiting) is joined by nobody but
    is still tracked, so invalidations reach every call that might store a result.
    """

    __slots__ = (
        "_loop",
        "_outcome",
        "_storing",
        "_waiters",
        "_writing",
        "invalidated",
        "key",
        "shared",
        "superseded",
        "tags",
    )

    def __init__(self, key: str, tags: tuple[str, ...] = (), *, shared: bool = True) -> None:
        self.key = key
        self.tags = tags
        self.shared = shared
        # A future per waiter, made only when somebody waits: most flights have none.
        # Each waiter awaits its own future, so cancelling one waiter cancels nothing
        # shared, with none of the two extra futures and callbacks asyncio.shield costs.
        self._outcome: Any = _PENDING
        self._waiters: list[asyncio.Future[Any]] | None = None
        # The leader's loop. A cache used by async code and by sync code (whose runs are
        # on the cache's private loop) has flights on two loops; a waiter on another loop
        # could not be woken safely by this one, so it does not wait (see :meth:`wait`).
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self.invalidated = False
        """The key (or one of its tags) was invalidated mid-flight: do not store."""
        self.superseded = False
        """A value was set explicitly mid-flight: the result must not overwrite it."""
        self._writing = False
        self._storing: asyncio.Future[None] | None = None

    @property
    def storable(self) -> bool:
        """Whether the leader may still store its result."""
        return not (self.invalidated or self.superseded)

    @property
    def done(self) -> bool:
        """Whether waiters have been released (with a value or with :data:`RETRY`)."""
        return self._outcome is not _PENDING

    def resolve(self, value: Any) -> None:
        """Hand ``value`` to every waiter."""
        if self._outcome is _PENDING:
            self._outcome = value
            waiters = self._waiters
            if waiters is not None:
                self._waiters = None
                for waiter in waiters:
                    if not waiter.done():  # a waiter that timed out or was cancelled
                        waiter.set_result(value)

    def release(self) -> None:
        """Let waiters go without a value; they retry (one of them becomes the leader)."""
        self.resolve(RETRY)

    def store_started(self) -> None:
        """The leader is writing its result; :meth:`store_settled` waits for the write."""
        self._writing = True

    def store_finished(self) -> None:
        """The write is over (stored or failed)."""
        self._writing = False
        if self._storing is not None and not self._storing.done():
            self._storing.set_result(None)

    async def store_settled(self) -> None:
        """Wait until a write in progress is over, so a delete issued next lands after it."""
        if not self._writing or not self._on_this_loop():
            return  # nothing to wait for, or a write on another loop (not awaitable here)
        if self._storing is None or self._storing.done():
            self._storing = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._storing)

    def _on_this_loop(self) -> bool:
        return self._loop is None or self._loop is asyncio.get_running_loop()

    async def wait(self, clock: Clock, seconds: float, deadlines: Deadlines | None = None) -> Any:
        """The leader's value, :data:`RETRY`, or :data:`TIMED_OUT` after ``seconds``
        (timed on ``deadlines``' shared timer when given, else by ``clock``: a stampede of
        a thousand waiters then arms one timer, not a thousand)."""
        if self._outcome is not _PENDING:
            return self._outcome
        loop = asyncio.get_running_loop()
        if seconds <= 0 or (self._loop is not None and self._loop is not loop):
            # A leader on another loop: this waiter produces its own value, as after a
            # timeout.
            return TIMED_OUT
        future = loop.create_future()
        if self._waiters is None:
            self._waiters = [future]
        else:
            self._waiters.append(future)
        try:
            if deadlines is not None:
                return await deadlines.bound(future, seconds)
            async with clock.timeout(seconds):
                return await future
        except TimeoutError:
            return TIMED_OUT


@final
class FlightTable:
    """The flights of one cache: the shared one per key, and solo ones."""

    __slots__ = ("_flights", "_solo")

    def __init__(self) -> None:
        self._flights: dict[str, Flight] = {}
        self._solo: dict[str, set[Flight]] = {}

    def get(self, key: str) -> Flight | None:
        """The shared flight in progress for ``key``, if any."""
        return self._flights.get(key)

    def start(self, key: str, tags: tuple[str, ...] = (), *, shared: bool = True) -> Flight:
        """Register and return a new flight for ``key``; the caller is its leader."""
        flight = Flight(key, tags, shared=shared)
        if shared:
            self._flights[key] = flight
        else:
            self._solo.setdefault(key, set()).add(flight)
        return flight

    def finish(self, flight: Flight) -> None:
        """Drop ``flight`` from the table and release any waiters it did not serve."""
        if flight.shared:
            if self._flights.get(flight.key) is flight:
                del self._flights[flight.key]
        else:
            solo = self._solo.get(flight.key)
            if solo is not None:
                solo.discard(flight)
                if not solo:
                    del self._solo[flight.key]
        flight.release()

    def _detach(self, key: str) -> list[Flight]:
        flights = list(self._solo.get(key, ()))
        shared = self._flights.pop(key, None)
        if shared is not None:
            flights.append(shared)
        return flights

    def invalidate(self, key: str) -> list[Flight]:
        """Detach the flights for ``key`` and keep their results out of the backend.

        Callers already waiting still get the value (they asked before the
        invalidation); later callers start a new flight instead of joining. Returns the
        flights, so the caller can wait for a write already under way before deleting.
        """
        flights = self._detach(key)
        for flight in flights:
            flight.invalidated = True
        return flights

    def invalidate_tags(self, tags: Iterable[str]) -> None:
        """Detach and mark every flight carrying one of ``tags``.

        What such a flight stores is rejected anyway (its entry predates the tag's
        marker); detaching keeps new callers from joining it.
        """
        wanted = set(tags)
        for key in [k for k, f in self._flights.items() if wanted.intersection(f.tags)]:
            self._flights.pop(key).invalidated = True
        for solo in self._solo.values():
            for flight in solo:
                if wanted.intersection(flight.tags):
                    flight.invalidated = True

    def supersede(self, key: str) -> list[Flight]:
        """Detach the flights for ``key``: a value was just set explicitly."""
        flights = self._detach(key)
        for flight in flights:
            flight.superseded = True
        return flights

    def __len__(self) -> int:
        return len(self._flights) + sum(len(solo) for solo in self._solo.values())

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
