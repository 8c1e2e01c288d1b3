"""One tier of a tiered backend: a backend guarded by its own breaker, timeout and flush.

A tiered cache must keep working when one of its tiers does not, without paying that
tier's timeout on every call. Each :class:`Tier` therefore calls its backend through its
own :class:`~hitbox.engine.Guard` — the guard every cache uses, with the same defaults:
a circuit breaker (opened by ``threshold`` consecutive failures over several keys,
probed every ``cooldown`` seconds), an optional per-call timeout, counters and
rate-limited warnings.

*Private* tiers (the per-instance upper tiers, L1) can be flushed when invalidations may
have been missed: with the backend's ``clear()`` when it has one, otherwise by moving the
tier to a new key generation (a key prefix), which makes every older entry unreachable.

Negative caching stores :data:`ABSENT` in private tiers: "no lower tier has this key".
Many-key reads and writes use the backend's ``get_many``/``set_many``/``delete_many`` when
it batches, else go key by key.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, TypeVar, final

from hitbox._clock import as_clock
from hitbox._errors import BackendError, CorruptEntry
from hitbox.backend._contract import Backend, BatchBackend, LockingBackend
from hitbox.backend._value import CachedValue
from hitbox.engine._breaker import CircuitBreaker, FailureLog
from hitbox.engine._counters import Counters
from hitbox.engine._guard import BackendSkipped, Guard, describe

__all__ = [
    "ABSENT",
    "CORRUPT",
    "Tier",
    "TierUnavailable",
    "describe",
    "is_absent",
    "ping_tiers",
    "run_on_tiers",
]

logger = logging.getLogger("hitbox")

_T = TypeVar("_T")

ABSENT_TAGS: Final = ("\x00hitbox:tiered:absent",)
ABSENT: Final = CachedValue(b"", -1.0, -1.0, -1.0, ABSENT_TAGS)
"""What a private tier holds for a key that no lower tier has (negative caching)."""


CORRUPT: Final = CachedValue(b"", -2.0, -2.0, -2.0)
"""Stands for an entry a tier holds but cannot decode (not a miss: never cached absent)."""


def is_absent(entry: CachedValue) -> bool:
    """Whether ``entry`` is the negative-caching marker (also after an encode/decode)."""
    return entry is ABSENT or (entry.created_at == -1.0 and entry.tags == ABSENT_TAGS)


TierUnavailable = BackendSkipped
"""The tier was not called: its breaker is open after repeated failures."""


@final
class Tier:
    """A backend in a tiered stack, with its position, traits and failure handling."""

    __slots__ = (
        "backend",
        "can_batch",
        "can_lock",
        "generation",
        "guard",
        "hits",
        "index",
        "label",
        "name",
        "prefix",
        "private",
    )

    def __init__(
        self,
        backend: Backend,
        index: int,
        *,
        private: bool,
        timeout: float | None,
        threshold: int,
        cooldown: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.index = index
        self.label = backend.label or type(backend).__name__
        self.name = f"L{index + 1} ({self.label})"
        self.private = private
        self.guard = Guard(
            backend,
            clock=as_clock(monotonic),
            counters=Counters(),
            timeout=timeout,
            failure_threshold=threshold,
            probe_interval=cooldown,
            label=f"tiered {self.name}",
            consequence="the other tiers serve",
        )
        self.can_batch = isinstance(backend, BatchBackend)
        self.can_lock = isinstance(backend, LockingBackend)
        self.generation = 0
        self.prefix = ""
        self.hits = 0

    @property
    def breaker(self) -> CircuitBreaker:
        """The tier's circuit breaker."""
        return self.guard.breaker

    @property
    def log(self) -> FailureLog:
        """The tier's rate-limited warnings."""
        return self.guard.log

    @property
    def timeout(self) -> float | None:
        """Seconds one call may take (``None``: in-process, never bounded)."""
        return None if self.guard.is_local else self.guard.timeout

    @property
    def errors(self) -> int:
        """Failed calls of this tier."""
        return self.guard.counters.errors

    def key(self, key: str) -> str:
        """The key as stored in this tier (prefixed once the tier was flushed by generation)."""
        return self.prefix + key if self.prefix else key

    async def run(self, operation: str, method: Callable[..., Awaitable[_T]], *args: Any) -> _T:
        """Call ``method(*args)`` through the tier's guard.

        Raises :class:`TierUnavailable` when the guard skips the tier, the backend's own
        error when it fails (counted and logged), and :class:`~hitbox.CorruptEntry` as is
        (a bad entry is not a failing tier).
        """
        key = args[0] if args and type(args[0]) is str else None
        try:
            return await self.guard.call(operation, key, method, *args)
        except BackendSkipped:
            raise
        except BackendError as exc:
            cause = exc.__cause__
            if isinstance(cause, Exception):
                raise cause from None  # the tiered backend reports the tier's own error
            raise

    @property
    def direct(self) -> bool:
        """Whether a call may skip :meth:`run` (no prefix, no timeout, breaker closed);
        the caller then reports a failure with :meth:`failed`."""
        return not (self.prefix or self.timeout is not None or self.guard.breaker.tripped)

    def failed(self, operation: str, exc: Exception, key: str | None = None) -> None:
        """Count, log (rate-limited) and feed the breaker one failure of ``operation``."""
        self.guard.failed(operation, key, exc)

    # -- many keys (keys as the caller knows them; the tier adds its prefix) -------------

    async def read_many(self, keys: Sequence[str]) -> list[CachedValue | None]:
        """The entries for ``keys`` in order; undecodable ones come back as :data:`CORRUPT`."""
        backend: Any = self.backend
        stored = [self.key(key) for key in keys] if self.prefix else list(keys)
        if self.can_batch:
            try:
                return list(await self.run("get_many", backend.get_many, stored))
            except CorruptEntry:
                pass  # one bad entry spoils the batch: find it key by key
        if backend.is_local:
            return [await self._read_one(key) for key in stored]
        return list(await asyncio.gather(*(self._read_one(key) for key in stored)))

    async def _read_one(self, key: str) -> CachedValue | None:
        try:
            entry: CachedValue | None = await self.run("get", self.backend.get, key)
        except CorruptEntry:
            return CORRUPT
        return entry

    async def write_many(self, items: Mapping[str, tuple[CachedValue, float]]) -> None:
        """Store every ``key -> (value, ttl)``; raises the first failure."""
        backend: Any = self.backend
        stored = {self.key(key): item for key, item in items.items()}
        if self.can_batch:
            await self.run("set_many", backend.set_many, stored)
            return
        for key, (value, ttl) in stored.items():
            await self.run("set", backend.set, key, value, ttl)

    async def try_write(self, items: Mapping[str, tuple[CachedValue, float]]) -> bool:
        """Store every ``key -> (value, ttl)``; whether it worked (failures are counted
        and logged by the guard)."""
        backend: Any = self.backend
        stored = {self.key(key): item for key, item in items.items()}
        try:
            if self.can_batch and len(stored) > 1:
                await self.run("set_many", backend.set_many, stored)
            else:
                for key, (value, ttl) in stored.items():
                    await self.run("set", backend.set, key, value, ttl)
        except Exception:
            return False
        return True

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Delete ``keys``; raises the first failure."""
        backend: Any = self.backend
        stored = [self.key(key) for key in keys]
        if self.can_batch and len(stored) > 1:
            await self.run("delete_many", backend.delete_many, stored)
            return
        for key in stored:
            await self.run("delete", backend.delete, key)

    async def try_delete(self, keys: Sequence[str]) -> None:
        """Best-effort :meth:`delete_many` (failures are counted and logged by the guard)."""
        try:
            await self.delete_many(keys)
        except Exception:
            return

    async def flush(self) -> None:
        """Make every entry of this tier unreachable: ``clear()`` or a new key generation."""
        clear = getattr(self.backend, "clear", None)
        if callable(clear):
            try:
                outcome = clear()
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception as exc:
                logger.warning("hitbox tiered %s: clear() failed (%s)", self.name, describe(exc))
            else:
                return
        self.generation += 1
        self.prefix = f"__hitbox_l1g{self.generation}__:"


async def run_on_tiers(
    tiers: Sequence[Tier], operation: Callable[[Tier], Awaitable[None]], *, concurrent: bool
) -> list[tuple[Tier, Exception]]:
    """Run ``operation`` on every tier: all at once, or one by one from the lowest tier up
    (the shared store first, so an upper tier never gets ahead of it). Returns the
    failures; cancellation propagates."""
    failures: list[tuple[Tier, Exception]] = []
    if concurrent and len(tiers) > 1:
        results = await asyncio.gather(*(operation(tier) for tier in tiers), return_exceptions=True)
        for tier, result in zip(tiers, results, strict=True):
            if isinstance(result, Exception):
                failures.append((tier, result))
            elif isinstance(result, BaseException):
                raise result
        return failures
    for tier in reversed(tiers):
        try:
            await operation(tier)
        except Exception as exc:
            failures.append((tier, exc))
    return failures


async def ping_tiers(tiers: Sequence[Tier]) -> bool:
    """Ping every tier that can be pinged; raises :class:`hitbox.BackendError` naming the
    tiers that did not answer (tiers without ``ping`` count as healthy)."""
    checked = [tier for tier in tiers if callable(getattr(tier.backend, "ping", None))]
    results = await asyncio.gather(
        *(tier.backend.ping() for tier in checked),  # type: ignore[attr-defined]
        return_exceptions=True,
    )
    failed = [
        f"{tier.name}: {describe(result) if isinstance(result, BaseException) else 'no'}"
        for tier, result in zip(checked, results, strict=True)
        if result is not True
    ]
    if failed:
        raise BackendError("tiers not answering: " + "; ".join(failed))
    return True
