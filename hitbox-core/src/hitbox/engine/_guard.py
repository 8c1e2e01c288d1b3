"""The one guard around every backend access: timeout, circuit breaker, failure log.

:class:`Guard` is what :class:`~hitbox.Cache`, the HTTP store and each tier of the tiered
backend call their backend through. A guarded call:

- is skipped (:class:`BackendSkipped`) while the breaker is open, or when its key is
  *poisoned* (it failed twice with other keys answering in between: its own size or
  content is the problem, so it is answered by the upstream for ``poison_ttl`` seconds
  without paying the timeout again);
- is bounded by a timeout for backends that are not in-process (one shared timer per
  event loop with the real clock, :class:`~hitbox.backend.Deadlines`);
- on failure is counted, logged (rate-limited) and re-raised as :class:`BackendError`;
  reads (``get``, ``get_many``) let :class:`CorruptEntry` through as "unusable entry",
  which is not a backend failure.

Only reads and health probes feed the breaker: a write that cannot finish in time
(a local store's writer lock under contention, a slow network) is dropped and counted,
but says nothing about whether reads are served. While the breaker is open a backend with
a health check (:class:`~hitbox.Healthcheck`) is pinged in the background at most once
per probe interval, so no caller pays for the probe and hits resume as soon as it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Generator
from types import CoroutineType
from typing import Any, Final, TypeVar, final

from hitbox._clock import Clock, SystemClock
from hitbox._defaults import DEFAULT_FAILURE_THRESHOLD, DEFAULT_PROBE_INTERVAL
from hitbox._errors import BackendError, CorruptEntry
from hitbox.backend._contract import Backend, Healthcheck
from hitbox.backend._deadlines import Deadlines
from hitbox.engine._breaker import CircuitBreaker, FailureLog
from hitbox.engine._counters import Counters

__all__ = ["POISON_TTL", "BackendSkipped", "Guard", "describe"]

_T = TypeVar("_T")

POISON_TTL: Final = 30.0
"""Seconds a key that keeps failing on its own is answered without the backend."""
_MAX_SUSPECTS: Final = 1024

_READS: Final = frozenset({"get", "get_many"})
"""Operations that feed the breaker, and whose :class:`CorruptEntry` means "unusable
entry" (a miss); from any other operation it is a failure like any other."""

_CONSEQUENCES: Final = {
    "get": "calling the upstream instead",
    "get_many": "calling the upstream instead",
    "set": "value not stored",
    "set_many": "not stored",
    "acquire_lock": "calling the upstream without the lock",
    "delete": "entry not deleted",
    "delete_many": "entries not deleted",
}


def describe(exc: BaseException) -> str:
    """A short one-line description of ``exc`` for logs and events."""
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


class BackendSkipped(BackendError):  # noqa: N818 - a condition, like CorruptEntry
    """The backend was not called: its breaker is open, or the key is poisoned."""


@final
class _Resumed:
    """Awaits the rest of a coroutine that was run up to its first suspension.

    ``first`` is what the coroutine yielded there (the future it waits on); awaiting
    this object hands that to the event loop and then drives the coroutine as
    ``await`` would, passing values, exceptions (a timeout's cancellation) and closing.
    """

    __slots__ = ("coroutine", "first")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], first: Any) -> None:
        self.coroutine = coroutine
        self.first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, pending = self.coroutine, self.first
        while True:
            try:
                sent = yield pending
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # forwarded into the coroutine, as ``await`` does
                try:
                    pending = coroutine.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    pending = coroutine.send(sent)
                except StopIteration as done:
                    return done.value


@final
class Guard:
    """One backend behind a timeout, a circuit breaker and a rate-limited failure log.

    ``timeout`` bounds each call of a backend that is not ``is_local`` (callers may pass
    their own per call). Failures and skipped calls are counted in ``counters``. ``label``
    names the backend in logs (default: the backend's ``label`` or class name);
    ``consequence`` says in them what a failure leads to (default: per operation, for a
    cache: "calling the upstream instead", "value not stored", ...).
    """

    __slots__ = (
        "_answered",
        "_poisoned",
        "_probe",
        "_suspects",
        "backend",
        "breaker",
        "clock",
        "consequence",
        "counters",
        "deadlines",
        "is_local",
        "label",
        "log",
        "poison_ttl",
        "timeout",
    )

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Clock,
        counters: Counters | None = None,
        timeout: float | None = None,
        failure_threshold: int = DEFAULT_FAILURE_THRESHOLD,
        probe_interval: float = DEFAULT_PROBE_INTERVAL,
        poison_ttl: float = POISON_TTL,
        label: str | None = None,
        consequence: str | None = None,
    ) -> None:
        self.backend = backend
        self.clock = clock
        self.counters = counters if counters is not None else Counters()
        self.label = label or str(getattr(backend, "label", "") or type(backend).__name__)
        self.is_local = bool(backend.is_local)
        self.timeout = timeout
        self.breaker = CircuitBreaker(failure_threshold, probe_interval, clock.now)
        self.log = FailureLog(self.label)
        self.poison_ttl = poison_ttl
        self.consequence = consequence
        # The real clock's timeouts share one timer; other clocks (tests) keep their own.
        self.deadlines = Deadlines() if type(clock) is SystemClock else None
        self._probe: asyncio.Task[None] | None = None
        # key -> number of successes seen when it last failed; key -> poisoned until.
        self._suspects: dict[str, int] = {}
        self._poisoned: dict[str, float] = {}
        self._answered = 0

    def sharing(self, counters: Counters) -> Guard:
        """A guard for another engine over the same backend: the same breaker, failure
        log and poisoned keys (one view of the backend's health), its own ``counters``."""
        twin = object.__new__(Guard)
        for name in Guard.__slots__:
            setattr(twin, name, getattr(self, name))
        twin.counters = counters
        twin._probe = None
        return twin

    async def call(
        self,
        operation: str,
        key: str | None,
        method: Callable[..., Awaitable[_T]],
        *args: Any,
        limit: float | None = None,
    ) -> _T:
        """``await method(*args)`` guarded (see the module doc); ``key`` is the single key
        the call is about, ``None`` for multi-key calls."""
        breaker = self.breaker
        # ``tripped`` and ``_poisoned`` are read inline: on a healthy backend this guard
        # costs two attribute reads, not two method calls.
        if breaker.tripped and not self._may_call():
            self.counters.skipped += 1
            raise BackendSkipped(f"{operation} skipped: circuit breaker open")
        if self._poisoned and key is not None and self._is_poisoned(key):
            self.counters.skipped += 1
            raise BackendSkipped(f"{operation} skipped: this key failed repeatedly")
        try:
            if self.is_local:
                result = await method(*args)
            else:
                result = await self._bounded(
                    method(*args), self.timeout if limit is None else limit
                )
        except CorruptEntry as exc:
            if operation in _READS:
                breaker.success()  # the backend answered; what it holds is unusable (a miss)
                raise
            raise self.failed(operation, key, exc, limit) from exc
        except Exception as exc:
            raise self.failed(operation, key, exc, limit) from exc
        except BaseException:
            breaker.abandon()
            raise
        if breaker.failures or breaker.tripped:
            breaker.success()
        if self._suspects:  # only counted while some key is under suspicion
            self._answered += 1
            if key is not None:
                self._suspects.pop(key, None)
        return result

    async def _bounded(self, call: Awaitable[_T], limit: float | None) -> _T:
        if limit is None:
            return await call
        if self.deadlines is not None:
            return await self.deadlines.bound(call, limit)
        # Another clock's timeout may be costly: run the call up to its first suspension
        # before arming one. An answer that needs no I/O wait costs no timer.
        if type(call) is not CoroutineType:
            async with self.clock.timeout(limit):
                return await call
        try:
            first = call.send(None)
        except StopIteration as done:
            result: _T = done.value
            return result
        async with self.clock.timeout(limit):
            resumed: _T = await _Resumed(call, first)
            return resumed

    def failed(
        self, operation: str, key: str | None, exc: Exception, limit: float | None = None
    ) -> BackendError:
        """Count, log and judge one failure of ``operation`` (also for callers that reached
        the backend directly, on a fast path); the :class:`BackendError` to raise."""
        self.counters.errors += 1
        breaker = self.breaker
        timed_out = isinstance(exc, TimeoutError)
        limit = self.timeout if limit is None else limit
        reason = f"timed out after {limit}s" if timed_out else describe(exc)
        consequence = self.consequence or _CONSEQUENCES.get(
            operation, "ignored; the cache fails open"
        )
        message = f"{operation} failed ({reason}); {consequence}"
        if operation in _READS:
            if key is not None:
                self._suspect(key)
            if breaker.failure(key):
                message += (
                    f"; circuit breaker open: backend skipped, probed every "
                    f"{breaker.probe_interval}s, after {breaker.failures} consecutive failures"
                )
                self.log.warn("breaker", message)
                return BackendError(f"{operation} failed: {reason}")
            if breaker.one_key_streak:
                self._confirm()
        self.log.warn(operation, message)
        return BackendError(f"{operation} failed: {reason}")

    # -- per-key faults -----------------------------------------------------------------

    def _suspect(self, key: str) -> None:
        """A read of ``key`` failed: poison it if it failed before while others answered."""
        successes = self._answered
        suspects = self._suspects
        before = suspects.get(key)
        if before is not None and before != successes:
            del suspects[key]
            if len(self._poisoned) >= _MAX_SUSPECTS:
                self._poisoned.clear()
            self._poisoned[key] = self.clock.now() + self.poison_ttl
            self.log.warn(
                "poisoned",
                f"one key failed repeatedly while others answered; it is answered by the "
                f"upstream for {self.poison_ttl}s",
            )
            return
        if len(suspects) >= _MAX_SUSPECTS:
            suspects.clear()
        suspects[key] = successes

    def _is_poisoned(self, key: str) -> bool:
        until = self._poisoned.get(key)
        if until is None:
            return False
        if self.clock.now() < until:
            return True
        del self._poisoned[key]
        return False

    # -- probing --------------------------------------------------------------------------

    def _may_call(self) -> bool:
        """While open: start a background health probe when one is due (the call is
        skipped), or, for backends without a health check, let this call be the probe."""
        breaker = self.breaker
        if not isinstance(self.backend, Healthcheck):
            return breaker.allow()
        if breaker.probe_due():
            self._start_probe(confirming=False)
        return False

    def _confirm(self) -> None:
        """Failures reached the threshold on one key: ask the health check whether the
        backend is down (it opens the breaker if so); without one, the key alone pays."""
        if isinstance(self.backend, Healthcheck) and (self._probe is None or self._probe.done()):
            self._start_probe(confirming=True)

    def _start_probe(self, *, confirming: bool) -> None:
        try:
            self._probe = asyncio.get_running_loop().create_task(self._ping(confirming))
        except RuntimeError:  # no running loop (a sync caller): the next call probes
            self.breaker.abandon()

    async def _ping(self, confirming: bool) -> None:
        breaker = self.breaker
        backend: Any = self.backend
        try:
            answered = await self._bounded(backend.ping(), self.timeout)
        except asyncio.CancelledError:
            breaker.abandon()
            raise
        except Exception:
            answered = False
        if answered is True:
            if breaker.tripped:
                self.log.warn("breaker", "backend answers again; circuit breaker closed")
            breaker.success()
        elif confirming:
            if not breaker.tripped:
                breaker.trip()
                self.log.warn(
                    "breaker",
                    f"health check failed after {breaker.failures} failures; circuit breaker "
                    f"open: backend skipped, probed every {breaker.probe_interval}s",
                )
        else:
            breaker.failure(None)

    def forget_probe(self) -> None:
        """Drop the probe task without stopping it: in a forked child it belongs to the
        parent's event loop, which does not run there."""
        self._probe = None

    async def aclose(self) -> None:
        """Stop a probe in flight."""
        probe = self._probe
        if probe is not None and not probe.done():
            probe.cancel()
            with contextlib.suppress(BaseException):  # it was cancelled on purpose
                await probe
