"""Guarded access to a backend: the :class:`~hitbox.engine._machine.Io` the cache gives its machine.

Every operation goes through the circuit breaker and, for backends that are not
in-process, a ``backend_timeout`` from the cache's clock. Failures are counted, logged
(rate-limited) and turned into :class:`BackendError` for the machine, which then calls
the upstream; writes swallow their failures. Values are serialized here, entries are
checked against their tags' invalidation markers here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, final

from hitbox._errors import BackendError, CorruptEntry
from hitbox.backend._contract import BatchBackend, LockingBackend
from hitbox.backend._value import NO_VALUE, CachedValue
from hitbox.engine._guard import Guard, describe
from hitbox.engine._machine import Call
from hitbox.engine._tags import TagMarkers
from hitbox.fsm import State, classify
from hitbox.serializers import Serializer

__all__ = ["BackendAccess"]


@final
class BackendAccess:
    """One backend as the state machine sees it: guarded, timed, serialized, tag-aware."""

    def __init__(self, guard: Guard, serializer: Serializer, tags: TagMarkers) -> None:
        backend = guard.backend
        self.guard = guard
        self.backend = backend
        self.serializer = serializer
        self.clock = guard.clock
        self.counters = guard.counters
        self.tags = tags
        self.label = guard.label
        self.log = guard.log
        self.breaker = guard.breaker
        self.default_timeout = guard.timeout or 0.0
        # Traits and capabilities are read once, here, never per call.
        self.is_local = guard.is_local
        self.stores_objects = bool(backend.stores_objects)
        self.can_batch = isinstance(backend, BatchBackend)
        self.batch: Any = backend  # its BatchBackend methods, where ``can_batch``
        self.can_lock = isinstance(backend, LockingBackend)

    async def read(self, call: Call) -> CachedValue | None:
        """The entry for ``call.key``; ``None`` if absent or invalidated by one of its tags."""
        timeout = call.policy.backend_timeout
        entry = await self.guard.call("get", call.key, self.backend.get, call.key, limit=timeout)
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
            markers = await self.guard.call(
                "get_many", None, self.batch.get_many, keys, limit=limit
            )
        else:
            markers = [
                await self.guard.call("get", key, self.backend.get, key, limit=limit)
                for key in keys
            ]
        return TagMarkers.invalidated(entry, markers)

    def classify(self, entry: CachedValue | None, call: Call, now: float) -> State:
        """By the entry's times (:func:`hitbox.fsm.classify`)."""
        return classify(entry, now)

    def usable_on_error(self, entry: CachedValue, call: Call, now: float) -> bool:
        """Within the policy's ``stale_if_error`` window after the entry's stale period."""
        return bool(now < entry.stale_until + call.policy.stale_if_error)

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
            await self.guard.call(
                "set",
                call.key,
                self.backend.set,
                call.key,
                entry,
                policy.lifetime,
                limit=policy.backend_timeout,
            )
        except BackendError:
            return False
        return True

    async def acquire_lock(self, call: Call) -> str | None:
        """Take the backend's lock for ``call.key`` (lease: ``lock_timeout``)."""
        policy = call.policy
        backend: Any = self.backend
        token = await self.guard.call(
            "acquire_lock",
            call.key,
            backend.acquire_lock,
            call.key,
            policy.lock_timeout,
            limit=policy.backend_timeout,
        )
        return None if token is None else str(token)

    async def release_lock(self, call: Call, token: str) -> None:
        """Release the lock; a failure only means the lease runs out by itself."""
        backend: Any = self.backend
        with contextlib.suppress(BackendError):
            await self.guard.call(
                "release_lock",
                call.key,
                backend.release_lock,
                call.key,
                token,
                limit=call.policy.backend_timeout,
            )

    async def delete(self, keys: Sequence[str]) -> bool:
        """Delete ``keys``; whether the backend confirmed it."""
        timeout = self.default_timeout
        try:
            if self.can_batch and len(keys) > 1:
                await self.guard.call(
                    "delete_many", None, self.batch.delete_many, list(keys), limit=timeout
                )
            else:
                for key in keys:
                    await self.guard.call("delete", key, self.backend.delete, key, limit=timeout)
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
                await self.guard.call("set_many", None, self.batch.set_many, items, limit=timeout)
            else:
                for key in keys:
                    await self.guard.call(
                        "set", key, self.backend.set, key, marker, ttl, limit=timeout
                    )
        except BackendError:
            return False
        return True
