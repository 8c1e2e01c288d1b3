"""The cache algorithm: one run of the state machine, written against an I/O interface.

:class:`Machine` knows the states and the order of things — read, classify, decode,
single-flight, distributed lock, upstream, store, stale refresh, stale-if-error — but
not how a backend is reached: that is the :class:`Io` it is given (the cache supplies
one that adds timeouts, the circuit breaker, serialization and tags). Tests drive the
machine with a fake ``Io`` and a :class:`~hitbox._clock.ManualClock` and assert exact
state paths.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Final, final

from hitbox._clock import Clock
from hitbox._errors import BackendError, CorruptEntry
from hitbox.backend._deadlines import Deadlines
from hitbox.engine._breaker import FailureLog
from hitbox.engine._call import REFUSED, UNREAD, Adopt, Call, Io, Observer, Unread
from hitbox.engine._counters import Counters
from hitbox.engine._flights import RETRY, TIMED_OUT, BackgroundTasks, Flight, FlightTable
from hitbox.engine._guard import describe
from hitbox.fsm import Run, State
from hitbox.policy import Policy

__all__ = ["REFUSED", "UNREAD", "Adopt", "Call", "Io", "Machine", "describe"]

POLL_INITIAL: Final = 0.005
"""First backoff (seconds) when polling for a value another process is computing."""
POLL_MAX: Final = 0.1
"""Longest backoff between two polls."""


_NOTHING: Final = object()

# Module globals are found faster than enum members on the hit path.
_HIT: Final = State.HIT
_MISS: Final = State.MISS
_RESPONSE: Final = State.RESPONSE


def _to_error(run: Run, exc: BaseException) -> None:
    """Note a backend failure; enter ``ERROR`` unless the run is there already (a run
    that already failed over to the upstream may hit a second backend failure)."""
    run.error = str(exc)
    if run.state is not State.ERROR:
        run.to(State.ERROR)


@final
class Machine:
    """Runs calls through the state machine. One per cache; holds no per-call state."""

    def __init__(
        self,
        io: Io,
        clock: Clock,
        counters: Counters,
        *,
        max_background: int = 64,
        observer: Observer | None = None,
        log: FailureLog | None = None,
        adopt: Adopt | None = None,
        deadlines: Deadlines | None = None,
    ) -> None:
        self.io = io
        self.clock = clock
        self.counters = counters
        self.flights = FlightTable()
        self.background = BackgroundTasks(max_background)
        self.observer = observer
        self.log = log if log is not None else FailureLog("cache")
        self.adopt = adopt
        self.deadlines = deadlines
        """Timers for waiters, shared (the engine passes its guard's with the real clock)."""

    async def execute(self, call: Call, entry: Any = UNREAD) -> Any:
        """Run ``call`` (``entry``: what a fast path already read) and report to the observer."""
        run = Run()
        observer = self.observer
        if observer is None:
            try:
                return await self.run(call, run, entry)
            except Exception as exc:
                return await self._recover(call, run, exc)
        started = time.perf_counter()
        try:
            return await self.run(call, run, entry)
        except Exception as exc:
            return await self._recover(call, run, exc)
        finally:
            observer(call, run, time.perf_counter() - started)

    async def _recover(self, call: Call, run: Run, exc: Exception) -> Any:
        """The last line of fail-open: an error of the cache itself (a bug, a backend
        raising what it should not) never reaches the caller. The upstream's own
        exception is re-raised; a value the upstream produced is returned; otherwise the
        upstream is called directly."""
        raised = run.upstream_exception
        if raised is not None:
            raise raised
        self.counters.errors += 1
        run.error = f"internal error: {describe(exc)}"
        self.log.warn(
            "internal",
            f"cache run for {call.key!r} failed ({describe(exc)}); answering from the upstream",
        )
        if run.upstream_duration is not None:  # the upstream already answered this run
            return run.upstream_result
        self.counters.upstream_calls += 1
        started = time.perf_counter()
        try:
            value = await call.upstream()
        except Exception as upstream_exc:
            run.upstream_error = describe(upstream_exc)
            run.upstream_exception = upstream_exc
            raise
        finally:
            run.upstream_duration = time.perf_counter() - started
        return value

    async def run(self, call: Call, run: Run, entry: Any = UNREAD) -> Any:
        """One run from ``PENDING`` to ``RESPONSE``, recorded in ``run``."""
        io, counters = self.io, self.counters
        if isinstance(entry, Unread):
            try:
                entry = await self._read(call, run)
            except CorruptEntry as exc:
                return await self._corrupt(call, run, exc)
            except BackendError as exc:
                _to_error(run, exc)
                return await self._fill(call, run, None)
        if entry is None:  # nothing stored: a miss with nothing to fall back on
            run.to(_MISS)
            counters.misses += 1
            return await self._fill(call, run, None)
        now = self.clock.now()
        try:
            state = io.classify(entry, call, now)
        except TypeError as exc:  # an entry whose fields are not numbers
            return await self._corrupt(call, run, exc)
        if state is not _MISS:
            assert entry is not None
            try:
                value = io.decode(entry, call)
            except CorruptEntry as exc:
                run.to(state)
                return await self._corrupt(call, run, exc)
            run.to(state)
            if state is _HIT:
                counters.hits += 1
            else:
                counters.stale += 1
                self.refresh(call)
            run.to(_RESPONSE)
            return value
        run.to(_MISS)
        counters.misses += 1
        fallback = entry if io.usable_on_error(entry, call, now) else None
        return await self._fill(call, run, fallback)

    async def _read(self, call: Call, run: Run) -> Any:
        if self.observer is None:  # nobody reads the backend time: do not measure it
            return await self.io.read(call)
        started = time.perf_counter()
        try:
            return await self.io.read(call)
        finally:
            run.backend_duration += time.perf_counter() - started

    async def peek(self, call: Call, default: Any = None) -> Any:
        """The value of a fresh entry for ``call``, else ``default``: a run that reads and
        classifies like :meth:`run` but never calls the upstream (stale entries count as
        absent and start no refresh). Reported to the observer like any run."""
        run = Run()
        started = time.perf_counter()
        try:
            return await self._peek(call, run, default)
        finally:
            if self.observer is not None:
                self.observer(call, run, time.perf_counter() - started)

    async def _peek(self, call: Call, run: Run, default: Any) -> Any:
        counters = self.counters
        try:
            entry = await self._read(call, run)
            if self.io.classify(entry, call, self.clock.now()) is _HIT:
                run.to(_HIT)
                value = self.io.decode(entry, call)
                counters.hits += 1
                run.to(_RESPONSE)
                return value
        except BackendError as exc:
            _to_error(run, exc)
            run.to(_RESPONSE)
            return default
        except (CorruptEntry, TypeError) as exc:
            counters.errors += 1
            counters.corrupt += 1
            run.error = describe(exc)
        run.to(_MISS)
        counters.misses += 1
        run.to(_RESPONSE)
        return default

    async def _corrupt(self, call: Call, run: Run, exc: BaseException) -> Any:
        # Not deleted: the upstream's answer overwrites it, and a delete racing another
        # process's write could remove a good entry.
        counters = self.counters
        counters.errors += 1
        counters.corrupt += 1
        counters.misses += 1
        run.error = describe(exc)
        run.to(State.MISS)
        return await self._fill(call, run, None)

    async def _fill(self, call: Call, run: Run, fallback: Any) -> Any:
        """MISS or ERROR: lead the key's flight, or wait for the leader (LOCKED)."""
        clock, flights = self.clock, self.flights
        if call.policy.lock == "none":
            return await self._lead(
                call, run, fallback, flights.start(call.key, call.tags, shared=False)
            )
        deadline = clock.now() + call.policy.lock_timeout
        waited = False
        while True:
            flight = flights.get(call.key)
            if flight is None:
                return await self._lead(call, run, fallback, flights.start(call.key, call.tags))
            run.to(State.LOCKED)
            if not waited:
                self.counters.locked += 1
                waited = True
            outcome = await flight.wait(clock, deadline - clock.now(), self.deadlines)
            if outcome is RETRY:
                run.to(State.MISS)
                continue
            if outcome is not TIMED_OUT and self.adopt is not None:
                outcome = self.adopt(call, outcome)
            if outcome is TIMED_OUT or outcome is REFUSED:
                solo = flights.start(call.key, call.tags, shared=False)
                try:
                    return await self._produce(call, run, fallback, solo)
                finally:
                    flights.finish(solo)
            run.to(State.RESPONSE)
            return outcome

    async def _lead(self, call: Call, run: Run, fallback: Any, flight: Flight) -> Any:
        try:
            if flight.shared and call.policy.lock == "distributed" and self.io.can_lock:
                return await self._lead_distributed(call, run, fallback, flight)
            return await self._produce(call, run, fallback, flight)
        finally:
            # Waiters not served by now (exception, cancellation, refused value) retry.
            self.flights.finish(flight)

    async def _lead_distributed(self, call: Call, run: Run, fallback: Any, flight: Flight) -> Any:
        """Take the backend lock, or poll with backoff for the value its holder stores."""
        io, clock = self.io, self.clock
        started = time.perf_counter()
        try:
            try:
                token = await io.acquire_lock(call)
            finally:
                run.backend_duration += time.perf_counter() - started
        except (BackendError, CorruptEntry) as exc:
            _to_error(run, exc)
            return await self._produce(call, run, fallback, flight)
        if token is not None:
            return await self._produce_locked(call, run, fallback, flight, token)
        run.to(State.LOCKED)
        self.counters.locked += 1
        deadline = clock.now() + call.policy.lock_timeout
        delay = POLL_INITIAL
        while (remaining := deadline - clock.now()) > 0:
            await clock.sleep(min(delay, remaining))
            delay = min(delay * 2, POLL_MAX)
            try:
                entry = await io.read(call)
                if entry is not None and io.classify(entry, call, clock.now()) is State.HIT:
                    value = io.decode(entry, call)
                    flight.resolve(value)
                    run.to(State.RESPONSE)
                    return value
                token = await io.acquire_lock(call)
            except (CorruptEntry, TypeError) as exc:
                self.counters.errors += 1
                self.counters.corrupt += 1
                run.error = describe(exc)
                continue
            except BackendError as exc:
                _to_error(run, exc)
                return await self._produce(call, run, fallback, flight)
            if token is not None:  # the holder gave up without storing: take over
                run.to(State.MISS)
                return await self._produce_locked(call, run, fallback, flight, token)
        return await self._produce(call, run, fallback, flight)

    async def _produce_locked(
        self, call: Call, run: Run, fallback: Any, flight: Flight, token: str
    ) -> Any:
        try:
            return await self._produce(call, run, fallback, flight)
        finally:
            started = time.perf_counter()
            await self.io.release_lock(call, token)
            run.backend_duration += time.perf_counter() - started

    async def _produce(self, call: Call, run: Run, fallback: Any, flight: Flight) -> Any:
        """Call the upstream, share and store its value; fall back to stale if it fails."""
        self.counters.upstream_calls += 1
        # The entry is as old as the data: a tag invalidated while the upstream runs must
        # invalidate what this call stores.
        created_at = self.clock.now()
        started = time.perf_counter()
        call.flight = flight
        try:
            value = await call.upstream()
        except Exception as exc:
            run.upstream_duration = time.perf_counter() - started
            run.upstream_error = describe(exc)
            run.upstream_exception = exc
            served = self._stale_if_error(call, run, fallback)
            if served is not _NOTHING:
                return served
            run.to(State.RESPONSE)
            raise
        run.upstream_result = value
        run.upstream_duration = time.perf_counter() - started
        if self._cacheable(value, call.policy):
            flight.resolve(value)
            # After a backend failure in this run, writing would likely cost another
            # timeout before the caller gets its answer; the breaker does the probing.
            if flight.storable and State.ERROR not in run.path:
                # An invalidation arriving now waits for this write, then deletes.
                flight.store_started()
                started = time.perf_counter()
                try:
                    await self.io.store(call, value, created_at)
                finally:
                    flight.store_finished()
                    run.backend_duration += time.perf_counter() - started
        elif self.adopt is not None:
            flight.resolve(value)  # the adopt hook refuses what was not stored
        run.to(State.RESPONSE)
        return value

    def _stale_if_error(self, call: Call, run: Run, fallback: Any) -> Any:
        if fallback is None or not self.io.usable_on_error(fallback, call, self.clock.now()):
            return _NOTHING
        try:
            value = self.io.decode(fallback, call)
        except CorruptEntry:
            self.counters.corrupt += 1
            return _NOTHING
        run.to(State.STALE)
        run.to(State.RESPONSE)
        self.counters.stale += 1
        return value

    def _cacheable(self, value: Any, policy: Policy) -> bool:
        if value is None and not policy.cache_none:
            return False
        predicate = policy.cacheable
        if predicate is None:
            return True
        try:
            return bool(predicate(value))
        except Exception as exc:
            self.log.warn("cacheable", f"cacheable predicate raised {describe(exc)}; not storing")
            return False

    def refresh(self, call: Call) -> bool:
        """Refresh ``call.key`` in the background unless a flight for it is running or
        the background limit is reached; whether a refresh started."""
        if call.key in self.flights or not self.background.has_room():
            return False
        flight = self.flights.start(call.key, call.tags)
        refresh_call = dataclasses.replace(call, operation="refresh")
        if not self.background.spawn(self._refresh(refresh_call, flight)):
            self.flights.finish(flight)
            return False
        self.counters.refreshes += 1
        return True

    async def _refresh(self, call: Call, flight: Flight) -> None:
        run = Run(State.MISS)
        started = time.perf_counter()
        try:
            await self._lead(call, run, None, flight)
        except Exception as exc:
            self.log.warn("refresh", f"background refresh of {call.key!r} failed: {describe(exc)}")
        finally:
            if self.observer is not None:
                self.observer(call, run, time.perf_counter() - started)

    async def aclose(self) -> None:
        """Cancel background refreshes and wait for them to stop."""
        await self.background.aclose()
