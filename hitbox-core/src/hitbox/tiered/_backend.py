"""The tiered backend: backends stacked L1 → L2 → ..., kept coherent across instances.

::

    from hitbox.tiered import TieredBackend

    backend = TieredBackend([MemoryBackend(max_entries=10_000), RedisBackend.from_url(url)])
    cache = hitbox.Cache(backend)

or by configuration: ``backend = {name = "tiered", tiers = [{name = "memory"},
{url = "redis://..."}]}``. Reads go down the tiers and refill the tiers above a hit;
writes and deletes reach every tier; a failing tier degrades to the others; the private
(per-instance) tiers drop what other instances rewrite or invalidate, through an
:class:`hitbox.InvalidationBus`. ``docs/backends/tiered.md`` tells the whole story; the
pieces live in the package's private modules (tiers, bus watcher, race guard, batches, config).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, final

from hitbox._errors import BackendError, ConfigError, CorruptEntry
from hitbox.backend._contract import Backend, BatchBackend, InvalidationBus, LockingBackend
from hitbox.backend._value import CachedValue
from hitbox.engine._breaker import DEFAULT_FAILURE_THRESHOLD, DEFAULT_PROBE_INTERVAL
from hitbox.policy import DEFAULT_BACKEND_TIMEOUT
from hitbox.tiered import _batch as batch_ops
from hitbox.tiered._bus import BusWatcher
from hitbox.tiered._caps import BatchMixin, LockingMixin
from hitbox.tiered._config import (
    TieredConfig,
    WritePolicy,
    check_options,
    check_tiers,
    create_tiered_backend,
    find_bus,
)
from hitbox.tiered._guard import ReadGuard, TagTimes
from hitbox.tiered._tier import (
    Tier,
    TierUnavailable,
    describe,
    is_absent,
    ping_tiers,
    run_on_tiers,
)

_running_loop: Final = asyncio.get_running_loop

__all__ = ["TieredBackend", "TieredConfig", "TieredStats", "WritePolicy", "create_tiered_backend"]


@final
@dataclass(frozen=True, slots=True)
class TieredStats:
    """Counters of a :class:`TieredBackend` since it was created."""

    hits: tuple[int, ...]
    """Hits served by each tier (index 0 is L1)."""
    errors: tuple[int, ...]
    """Failed calls of each tier."""
    refills: int
    """Entries copied up into upper tiers after a lower-tier hit."""
    negative_hits: int
    """Reads answered "absent" by a private tier (negative caching)."""
    bus: str
    """``"none"`` (no bus), ``"live"``, ``"recovering"`` or ``"down"``."""
    invalidations_received: int
    """Invalidations applied from other instances."""
    invalidations_published: int
    """Messages published to other instances."""
    publish_failures: int
    """Publishes that failed (their invalidations were queued for a retry)."""
    flushes: int
    """Times the private tiers were flushed after a bus outage."""


class TieredBackend(Backend):
    """A backend composed of backends: ``tiers[0]`` is L1 (fastest), the last the source.

    ``bus`` is ``"auto"`` (the first tier offering :class:`hitbox.InvalidationBus`), an
    object offering it, or ``None`` (no cross-instance invalidation). ``private_tiers``
    is how many upper tiers belong to this instance alone (default: the tiers above the
    bus's tier, or all but the last). Private entries live at most ``max_l1_ttl``
    (``None``: their remaining lifetime), at most ``outage_l1_ttl`` while the bus is
    down or recovering; misses are remembered there for ``negative_ttl`` (0: never).
    The bus is probed every ``probe_interval`` seconds; ``recovery_grace`` seconds
    after an outage (or start) private entries are still short-lived. Calls to a
    non-local tier are cut after ``tier_timeout`` seconds (``None``: the tier's own).

    ``is_local`` is True when L1 is in-process and every other tier's calls are cut
    after ``tier_timeout``: the backend then bounds itself, so the cache skips its own
    per-call timeout and serves L1 hits on its fast path (``Policy.backend_timeout``
    does not apply; ``tier_timeout`` does, per tier).
    ``clock`` (unix seconds) and ``monotonic`` are injectable for tests.

    The backend owns its tiers and bus: :meth:`aclose` closes them.
    """

    def __new__(cls, tiers: Sequence[Backend], **options: Any) -> TieredBackend:
        """Pick the class whose capabilities match the tiers' (checked once, here)."""
        if cls is not TieredBackend:
            return super().__new__(cls)
        if not isinstance(tiers, Sequence):
            raise ConfigError(
                f"tiers: expected a sequence of backends, got {type(tiers).__name__}",
                field="tiers",
                value=tiers,
            )
        batches = any(isinstance(tier, BatchBackend) for tier in tiers)
        locks = any(isinstance(tier, LockingBackend) for tier in tiers)
        return super().__new__(_KINDS[batches, locks])

    def __init__(
        self,
        tiers: Sequence[Backend],
        *,
        write_policy: WritePolicy = "sequential",
        bus: InvalidationBus | Literal["auto"] | None = "auto",
        private_tiers: int | None = None,
        max_l1_ttl: float | None = None,
        outage_l1_ttl: float = 1.0,
        negative_ttl: float = 30.0,
        probe_interval: float = 0.5,
        recovery_grace: float = 3.0,
        tier_timeout: float | None = DEFAULT_BACKEND_TIMEOUT,
        failure_threshold: int = DEFAULT_FAILURE_THRESHOLD,
        cooldown: float = DEFAULT_PROBE_INTERVAL,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        backends = check_tiers(tiers)
        check_options(
            write_policy=write_policy,
            max_l1_ttl=max_l1_ttl,
            outage_l1_ttl=outage_l1_ttl,
            negative_ttl=negative_ttl,
            probe_interval=probe_interval,
            recovery_grace=recovery_grace,
            tier_timeout=tier_timeout,
            failure_threshold=failure_threshold,
            cooldown=cooldown,
        )
        bus_object, bus_index, private_tiers = find_bus(backends, bus, private_tiers)
        self.tiers: tuple[Tier, ...] = tuple(
            Tier(
                backend,
                index,
                private=index < private_tiers,
                timeout=tier_timeout,
                threshold=failure_threshold,
                cooldown=cooldown,
                monotonic=monotonic,
            )
            for index, backend in enumerate(backends)
        )
        self._top = self.tiers[0]
        self._private = tuple(tier for tier in self.tiers if tier.private)
        self._concurrent = write_policy == "concurrent"
        self.write_policy: WritePolicy = write_policy
        self.is_local = all(backend.is_local for backend in backends) or (
            backends[0].is_local and tier_timeout is not None
        )
        self.stores_objects = backends[0].stores_objects
        self.label = "tiered[" + "+".join(tier.label for tier in self.tiers) + "]"
        self._max_l1_ttl = max_l1_ttl
        self._outage_ttl = outage_l1_ttl
        self._negative_ttl = negative_ttl if self._private else 0.0
        self._clock = clock
        self._bus_index = bus_index
        self._owns_bus = bus_object is not None and bus_index is None
        self._lock_tier = next((tier for tier in reversed(self.tiers) if tier.can_lock), None)
        self._watcher: BusWatcher | None = None
        if bus_object is not None:
            self._watcher = BusWatcher(
                bus_object,
                apply=functools.partial(batch_ops.apply_invalidation, self),
                flush=self.flush_private,
                recovered=self._bus_recovered,
                listen=bool(self._private),
                probe_interval=probe_interval,
                outage_ttl=outage_l1_ttl,
                recovery_grace=recovery_grace,
                timeout=max(1.0, tier_timeout or 0.0),
                monotonic=monotonic,
            )
        self._guard = ReadGuard()
        self._tags = TagTimes()
        self._tag_times = self._tags.times  # the same dict, read on the hit path
        self._refills = 0
        self._negative_hits = 0
        self._closed = False

    # -- Backend ------------------------------------------------------------------------

    async def get(self, key: str) -> CachedValue | None:
        """The first entry found going down the tiers; refills the tiers above it."""
        watcher = self._watcher
        if watcher is not None and watcher.loop is not _running_loop():
            watcher.ensure_running()
        top = self._top
        failures = 0
        error: Exception | None = None
        direct = top.direct  # the L1 hit path: no wrapper coroutine
        try:
            if direct:
                entry = await top.backend.get(key)
                if top.breaker.failures:
                    top.breaker.success()
            else:
                entry = await top.run("get", top.backend.get, top.key(key))
        except CorruptEntry:
            entry = None
        except TierUnavailable as exc:
            entry, failures, error = None, 1, exc
        except Exception as exc:
            if direct:
                top.failed("get", exc, key)
            entry, failures, error = None, 1, exc
        if entry is not None:
            if entry.created_at == -1.0 and top.private and is_absent(entry):
                self._negative_hits += 1
                return None
            if not self._tag_times or not self._tags.stale(entry):
                top.hits += 1
                return entry
        if len(self.tiers) == 1:
            if error is not None:
                raise error
            return None
        return await self._get_below(key, failures, error)

    async def _get_below(
        self, key: str, failures: int, error: Exception | None
    ) -> CachedValue | None:
        found: CachedValue | None = None
        source: Tier | None = None
        absent_below = settled = False
        self._guard.begin(key)
        try:
            for tier in self.tiers[1:]:
                try:
                    entry = await tier.run("get", tier.backend.get, tier.key(key))
                except CorruptEntry:
                    settled = True  # something is there; let the next write replace it
                    continue
                except Exception as exc:
                    failures, error = failures + 1, exc
                    self._tier_failed(tier)
                    continue
                if entry is None:
                    continue
                if tier.private and is_absent(entry):
                    absent_below = True
                    break
                if self._tags.times and self._tags.stale(entry):
                    settled = True
                    continue
                found, source = entry, tier
                break
        finally:
            stale = self._guard.end(key)
        if found is not None and source is not None:
            source.hits += 1
            if not stale:
                await batch_ops.refill(self, [(key, found, source.index)])
            return found
        if failures == len(self.tiers) and error is not None:
            raise error
        if absent_below:
            self._negative_hits += 1
        elif not (stale or failures or settled) and self._negative_ttl:
            await batch_ops.remember_absent(self, {key})
        return None

    async def set(self, key: str, value: CachedValue, ttl: float) -> None:
        """Write to every tier (private tiers capped), then tell the other instances."""
        if self._watcher is not None:
            self._watcher.ensure_running()
        self._guard.touch(key)
        private_ttl = self._private_ttl(ttl)

        def write(tier: Tier) -> Awaitable[None]:
            lifetime = private_ttl if tier.private else ttl
            return tier.run("set", tier.backend.set, tier.key(key), value, lifetime)

        failed, error = await self._each_tier(write)
        self._guard.touch(key)
        if len(failed) == len(self.tiers) and error is not None:
            raise error
        if self._watcher is not None:
            self._watcher.publish((key,))

    async def delete(self, key: str) -> None:
        """Delete from every tier, then tell the other instances.

        Raises (after trying every tier) when a shared tier could not be reached.
        """
        if self._watcher is not None:
            self._watcher.ensure_running()
        self._guard.touch(key)

        def remove(tier: Tier) -> Awaitable[None]:
            return tier.run("delete", tier.backend.delete, tier.key(key))

        failed, error = await self._each_tier(remove)
        self._guard.touch(key)
        if self._watcher is not None:
            self._watcher.publish((key,))
        self._raise_if_shared_failed(failed, error, "delete")

    async def aclose(self) -> None:
        """Stop the bus tasks, close every tier (and a bus that is not a tier). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._watcher is not None:
            await self._watcher.aclose()
        closers: list[Any] = [tier.backend for tier in self.tiers]
        if self._owns_bus and self._watcher is not None:
            closers.append(self._watcher.bus)
        for closer in closers:
            close = getattr(closer, "aclose", None)
            if close is None:
                continue
            try:
                await close()
            except Exception as exc:
                self._top.log.warn("aclose", f"closing {closer!r} failed ({describe(exc)})")

    # -- Healthcheck ----------------------------------------------------------------------

    async def ping(self) -> bool:
        """Ping every tier that can be pinged; raises :class:`hitbox.BackendError` naming
        the tiers that did not answer (tiers without ``ping`` count as healthy)."""
        return await ping_tiers(self.tiers)

    # -- public helpers -------------------------------------------------------------------

    async def flush_private(self) -> None:
        """Drop every entry of the private tiers (what the bus watcher does after an outage)."""
        self._guard.touch_all()
        for tier in self._private:
            await tier.flush()

    async def flush_invalidations(self) -> None:
        """Wait until the invalidations published so far have been sent (publishing runs
        in the background: writes never wait for it)."""
        if self._watcher is not None:
            await self._watcher.flush()

    def stats(self) -> TieredStats:
        """Counters since creation (per-tier hits and errors, bus traffic and state)."""
        watcher = self._watcher
        return TieredStats(
            hits=tuple(tier.hits for tier in self.tiers),
            errors=tuple(tier.errors for tier in self.tiers),
            refills=self._refills,
            negative_hits=self._negative_hits,
            bus="none" if watcher is None else watcher.state,
            invalidations_received=0 if watcher is None else watcher.received,
            invalidations_published=0 if watcher is None else watcher.published,
            publish_failures=0 if watcher is None else watcher.publish_failures,
            flushes=0 if watcher is None else watcher.flushes,
        )

    @property
    def bus(self) -> InvalidationBus | None:
        """The invalidation bus in use, if any."""
        return None if self._watcher is None else self._watcher.bus

    def __repr__(self) -> str:
        return f"TieredBackend({self.label}, write_policy={self.write_policy!r})"

    # -- internals (also used by hitbox.tiered._batch) ------------------------------------

    def _private_ttl(self, ttl: float) -> float:
        cap = self._max_l1_ttl
        if self._watcher is not None and self._watcher.degraded():
            cap = self._outage_ttl if cap is None else min(cap, self._outage_ttl)
        return ttl if cap is None or ttl <= cap else cap

    def _bus_recovered(self) -> None:
        """The bus answers again: so does its tier, without waiting out its cooldown."""
        if self._bus_index is not None:
            self.tiers[self._bus_index].breaker.success()

    def _tier_failed(self, tier: Tier) -> None:
        if self._watcher is not None and tier.index == self._bus_index:
            self._watcher.suspect()

    async def _each_tier(
        self, operation: Callable[[Tier], Awaitable[None]]
    ) -> tuple[list[Tier], Exception | None]:
        """Run ``operation`` on every tier (lowest first, or concurrently); the failed ones."""
        failures = await run_on_tiers(self.tiers, operation, concurrent=self._concurrent)
        for tier, exc in failures:
            if not isinstance(exc, TierUnavailable):
                self._tier_failed(tier)
        return [tier for tier, _ in failures], failures[-1][1] if failures else None

    def _raise_if_shared_failed(
        self, failed: list[Tier], error: Exception | None, operation: str
    ) -> None:
        """Raise when a shared tier missed a delete: the invalidation did not happen there."""
        shared = [tier.name for tier in failed if not tier.private]
        if shared or (failed and len(failed) == len(self.tiers)):
            names = ", ".join(shared or [tier.name for tier in failed])
            raise BackendError(
                f"{operation} did not reach {names}: {describe(error) if error else 'failed'}"
            ) from error


class _WithBatch(BatchMixin, TieredBackend):
    """A tiered backend whose tiers can batch: adds ``BatchBackend``."""


class _WithLocking(LockingMixin, TieredBackend):
    """A tiered backend with ``LockingBackend``."""


class _WithBatchAndLocking(LockingMixin, BatchMixin, TieredBackend):
    """A tiered backend with ``BatchBackend`` and ``LockingBackend``."""


_KINDS: Final[dict[tuple[bool, bool], type[TieredBackend]]] = {
    (False, False): TieredBackend,
    (True, False): _WithBatch,
    (False, True): _WithLocking,
    (True, True): _WithBatchAndLocking,
}
