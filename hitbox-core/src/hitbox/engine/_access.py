"""Guarded access to a backend: the :class:`~hitbox.engine._machine.Io` the cache gives its machine.

Every operation goes through the circuit breaker and, for backends that are not
in-process, a ``backend_timeout`` from the cache's clock. Failures are counted, logged
(rate-limited) and turned into :class:`BackendError` for the machine, which then calls
the upstream; writes swallow their failures. Values are serialized here, entries are
checked against their tags' invalidation markers here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from types import CoroutineType
from typing import Any, TypeVar, final

from hitbox._clock import Clock, SystemClock
from hitbox._errors import BackendError, CorruptEntry
from hitbox.backend._contract import Backend, BatchBackend, LockingBackend
from hitbox.backend._deadlines import Deadlines
from hitbox.backend._value import NO_VALUE, CachedValue
from hitbox.engine._breaker import CircuitBreaker, FailureLog
from hitbox.engine._counters import Counters
from hitbox.engine._machine import Call, describe
from hitbox.engine._tags import TagMarkers
from hitbox.policy import Policy
from hitbox.serializers import Serializer

__all__ = ["BackendAccess"]

_T = TypeVar("_T")

_CONSEQUENCES = {
    "get": "calling the upstream instead",
    "get_many": "calling the upstream instead",
    "set": "value not stored",
    "set_many": "not stored",
    "acquire_lock": "calling the upstream without the lock",
    "delete": "entry not deleted",
    "delete_many": "entries not deleted",
}


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


_READS = frozenset({"get", "get_many"})
"""Operations whose :class:`CorruptEntry` means "unusable entry" (a miss); from any other
operation it is a failure of the backend like any other."""


@final
class BackendAccess:
    """One backend as the state machine sees it: guarded, timed, serialized, tag-aware."""

    def __init__(
        self,
        backend: Backend,
        serializer: Serializer,
        clock: Clock,
        counters: Counters,
        policy: Policy,
        tags: TagMarkers,
    ) -> None:
        self.backend = backend
        self.serializer = serializer
        self.clock = clock
        self.counters = counters
        self.tags = tags
        self.label = str(getattr(backend, "label", "") or type(backend).__name__)
        # Traits and capabilities are read once, here, never per call.
        self.is_local = bool(backend.is_local)
        self.stores_objects = bool(backend.stores_objects)
        self.can_batch = isinstance(backend, BatchBackend)
        self.can_lock = isinstance(backend, LockingBackend)
        self.breaker = CircuitBreaker(policy.failure_threshold, policy.cooldown, clock.now)
        self.log = FailureLog(self.label)
        self.default_timeout = policy.backend_timeout
        # The real clock's timeouts share one timer; other clocks (tests) keep their own.
        self.deadlines = Deadlines() if type(clock) is SystemClock else None

    async def _guarded(
        self,
        operation: str,
        limit: float,
        method: Callable[..., Awaitable[_T]],
        *args: Any,
    ) -> _T:
        breaker = self.breaker
        # ``tripped`` and ``failures`` are read inline: on a healthy backend this guard
        # costs two attribute reads, not two method calls.
        if breaker.tripped and not breaker.allow():
            self.counters.skipped += 1
            raise BackendError(f"{operation} skipped: circuit breaker open")
        try:
            if self.is_local:
                result = await method(*args)
            elif self.deadlines is not None:
                result = await self.deadlines.bound(method(*args), limit)
            else:
                # Another clock's timeout may be costly: run the call up to its first
                # suspension before arming one. An answer that needs no I/O wait (a
                # client's own cache) costs no timer; one that waits gets all of it.
                call = method(*args)
                if type(call) is not CoroutineType:
                    async with self.clock.timeout(limit):
                        result = await call
                else:
                    try:
                        first = call.send(None)
                    except StopIteration as done:
                        result = done.value
                    else:
                        async with self.clock.timeout(limit):
                            result = await _Resumed(call, first)
        except Exception as exc:
            if operation in _READS and isinstance(exc, CorruptEntry):
                breaker.success()  # the backend answered; what it holds is unusable (a miss)
                raise
            self.counters.errors += 1
            opened = breaker.failure()
            reason = f"timed out after {limit}s" if isinstance(exc, TimeoutError) else describe(exc)
            consequence = _CONSEQUENCES.get(operation, "ignored; the cache fails open")
            message = f"{operation} failed ({reason}); {consequence}"
            if opened:
                message += (
                    f"; circuit breaker open: backend skipped for {breaker.cooldown}s "
                    f"after {breaker.failures} consecutive failures"
                )
                self.log.warn("breaker", message)
            else:
                self.log.warn(operation, message)
            raise BackendError(f"{operation} failed: {reason}") from exc
        except BaseException:
            breaker.abandon()
            raise
        if breaker.failures or breaker.tripped:
            breaker.success()
        return result

    async def read(self, call: Call) -> CachedValue | None:
        """The entry for ``call.key``; ``None`` if absent or invalidated by one of its tags."""
        timeout = call.policy.backend_timeout
        entry = await self._guarded("get", timeout, self.backend.get, call.key)
        if entry is None:
            return None
        if type(entry) is not CachedValue:
            raise CorruptEntry(f"backend returned a {type(entry).__name__}, not a CachedValue")
        if entry.tags and await self._invalidated_by_tags(entry, timeout):
            return None
        return entry

    async def _invalidated_by_tags(self, entry: CachedValue, limit: float) -> bool:
        try:
            keys = self.tags.keys(entry.tags)
        except Exception as exc:  # a key strategy refusing a tag: cannot verify the entry
            raise CorruptEntry(f"cannot build tag keys: {describe(exc)}") from exc
        markers: Sequence[object]
        if self.can_batch:
            markers = await self._guarded("get_many", limit, self.backend.get_many, keys)  # type: ignore[attr-defined]
        else:
            markers = [await self._guarded("get", limit, self.backend.get, key) for key in keys]
        return TagMarkers.invalidated(entry, markers)

    def decode(self, entry: CachedValue, call: Call) -> Any:
        """The entry's value: the kept object in object mode, else deserialized and typed."""
        value = entry.value
        if value is not NO_VALUE and self.stores_objects:
            return value
        try:
            return self.serializer.loads(entry.data, call.type_hint())
        except Exception as exc:
            raise CorruptEntry(f"cannot decode entry {call.key!r}: {describe(exc)}") from exc

    def encode(self, call: Call, value: Any, created_at: float) -> CachedValue | None:
        """The entry to store for ``value``, or ``None`` (logged) if it cannot be serialized.

        Object-mode backends get the value itself too; ``data`` is filled either way, so
        a value that one backend could not store is refused by every backend alike.
        """
        try:
            data = self.serializer.dumps(value)
        except Exception as exc:
            self.counters.errors += 1
            self.log.warn(
                "serialize",
                f"value for {call.key!r} not stored: {self.serializer.name} cannot encode it "
                f"({describe(exc)})",
            )
            return None
        policy = call.policy
        fresh_until = self.clock.now() + policy.ttl
        return CachedValue(
            data,
            created_at,
            fresh_until,
            fresh_until + policy.max_stale,
            call.tags,
            value if self.stores_objects else NO_VALUE,
        )

    async def store(self, call: Call, value: Any, created_at: float) -> bool:
        """Serialize and write ``value``; failures are counted, logged and swallowed."""
        entry = self.encode(call, value, created_at)
        if entry is None:
            return False
        policy = call.policy
        try:
            await self._guarded(
                "set", policy.backend_timeout, self.backend.set, call.key, entry, policy.lifetime
            )
        except BackendError:
            return False
        return True

    async def acquire_lock(self, call: Call) -> str | None:
        """Take the backend's lock for ``call.key`` (lease: ``lock_timeout``)."""
        policy = call.policy
        backend: Any = self.backend
        token = await self._guarded(
            "acquire_lock",
            policy.backend_timeout,
            backend.acquire_lock,
            call.key,
            policy.lock_timeout,
        )
        return None if token is None else str(token)

    async def release_lock(self, call: Call, token: str) -> None:
        """Release the lock; a failure only means the lease runs out by itself."""
        backend: Any = self.backend
        with contextlib.suppress(BackendError):
            await self._guarded(
                "release_lock", call.policy.backend_timeout, backend.release_lock, call.key, token
            )

    async def delete(self, keys: Sequence[str]) -> bool:
        """Delete ``keys``; whether the backend confirmed it."""
        timeout = self.default_timeout
        try:
            if self.can_batch and len(keys) > 1:
                await self._guarded("delete_many", timeout, self.backend.delete_many, list(keys))  # type: ignore[attr-defined]
            else:
                for key in keys:
                    await self._guarded("delete", timeout, self.backend.delete, key)
        except BackendError:
            return False
        return True

    async def mark_tags(self, tags: Sequence[str]) -> bool:
        """Write invalidation markers for ``tags`` (now); whether the backend confirmed it."""
        marker = self.tags.marker(self.clock.now())
        ttl, timeout = self.tags.ttl, self.default_timeout
        keys = self.tags.keys(tags)
        try:
            if self.can_batch and len(keys) > 1:
                items = dict.fromkeys(keys, (marker, ttl))
                await self._guarded("set_many", timeout, self.backend.set_many, items)  # type: ignore[attr-defined]
            else:
                for key in keys:
                    await self._guarded("set", timeout, self.backend.set, key, marker, ttl)
        except BackendError:
            return False
        return True
