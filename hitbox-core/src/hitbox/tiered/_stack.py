"""What the parts of a tiered backend share: its tiers and the state kept across them.

A :class:`TierStack` owns the tiers (L1 first), the bus watcher, the read guard, the tag
times, the negative-caching and private-lifetime settings and the counters, and does what
touches all of them: running an operation on every tier, copying entries up, remembering
misses, applying received invalidations, flushing the private tiers, closing. The
single-key operations (:class:`hitbox.tiered.TieredBackend`) and the multi-key ones
(``hitbox.tiered._batch``) both work through it, so neither reaches into the other.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, final

from hitbox._errors import BackendError
from hitbox.backend._contract import Invalidation, InvalidationBus
from hitbox.backend._value import CachedValue
from hitbox.tiered._bus import BusWatcher
from hitbox.tiered._guard import ReadGuard, TagTimes
from hitbox.tiered._tier import ABSENT, Tier, TierUnavailable, describe, run_on_tiers

__all__ = ["TierStack", "TieredStats"]


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


@final
class TierStack:
    """The tiers of one tiered backend and what they share.

    ``bus`` (with ``bus_index``, its tier's index, or ``None`` when it is not a tier and
    the stack owns it) gets a :class:`~hitbox.tiered._bus.BusWatcher`; the remaining
    options are :class:`~hitbox.tiered.TieredBackend`'s, already validated.
    """

    __slots__ = (
        "_bus_index",
        "_closed",
        "_concurrent",
        "_max_l1_ttl",
        "_outage_ttl",
        "_owns_bus",
        "clock",
        "lock_tier",
        "negative_hits",
        "negative_ttl",
        "private",
        "reads",
        "refills",
        "tags",
        "tiers",
        "top",
        "watcher",
    )

    def __init__(
        self,
        tiers: tuple[Tier, ...],
        *,
        concurrent: bool,
        max_l1_ttl: float | None,
        outage_l1_ttl: float,
        negative_ttl: float,
        bus: InvalidationBus | None,
        bus_index: int | None,
        probe_interval: float,
        recovery_grace: float,
        bus_timeout: float,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tiers = tiers
        """Every tier, L1 first."""
        self.top = tiers[0]
        """L1."""
        self.private = tuple(tier for tier in tiers if tier.private)
        """The tiers that belong to this instance alone."""
        self.lock_tier = next((tier for tier in reversed(tiers) if tier.can_lock), None)
        """The lowest tier that locks (the shared one), if any."""
        self.negative_ttl = negative_ttl if self.private else 0.0
        """Seconds a miss is remembered in the private tiers (0: never)."""
        self.clock = clock
        """Unix seconds (entries' times are in it)."""
        self.reads = ReadGuard()
        """Lower-tier reads in flight, so an invalidated one does not copy up."""
        self.tags = TagTimes()
        """Tag invalidations received over the bus."""
        self.refills = 0
        """Entries copied up into upper tiers."""
        self.negative_hits = 0
        """Reads answered "absent" by a private tier."""
        self._concurrent = concurrent
        self._max_l1_ttl = max_l1_ttl
        self._outage_ttl = outage_l1_ttl
        self._bus_index = bus_index
        self._owns_bus = bus is not None and bus_index is None
        self._closed = False
        self.watcher: BusWatcher | None = None
        """Publishes, receives and watches invalidations (``None``: no bus)."""
        if bus is not None:
            self.watcher = BusWatcher(
                bus,
                apply=self.apply_invalidation,
                flush=self.flush_private,
                recovered=self._bus_recovered,
                listen=bool(self.private),
                probe_interval=probe_interval,
                outage_ttl=outage_l1_ttl,
                recovery_grace=recovery_grace,
                timeout=bus_timeout,
                monotonic=monotonic,
            )

    # -- the bus and the read guard ------------------------------------------------------

    def ensure_bus(self) -> None:
        """Start the bus tasks on the running loop (once per loop)."""
        if self.watcher is not None:
            self.watcher.ensure_running()

    def publish(self, keys: Sequence[str]) -> None:
        """Tell the other instances that ``keys`` changed (in the background)."""
        if self.watcher is not None:
            self.watcher.publish(keys)

    def touch(self, keys: Iterable[str]) -> None:
        """``keys`` are written or deleted: lower-tier reads in flight must not copy up."""
        touch = self.reads.touch
        for key in keys:
            touch(key)

    def stale(self, entry: CachedValue) -> bool:
        """Whether a tag invalidation received over the bus covers ``entry``."""
        return bool(self.tags.times) and self.tags.stale(entry)

    def private_ttl(self, ttl: float) -> float:
        """``ttl`` capped for a private tier (shorter while the bus is degraded)."""
        cap = self._max_l1_ttl
        if self.watcher is not None and self.watcher.degraded():
            cap = self._outage_ttl if cap is None else min(cap, self._outage_ttl)
        return ttl if cap is None or ttl <= cap else cap

    def tier_failed(self, tier: Tier) -> None:
        """``tier`` failed a call: if it carries the bus, the bus may be down too."""
        if self.watcher is not None and tier.index == self._bus_index:
            self.watcher.suspect()

    def _bus_recovered(self) -> None:
        """The bus answers again: so does its tier, without waiting out its cooldown."""
        if self._bus_index is not None:
            self.tiers[self._bus_index].breaker.success()

    # -- every tier ------------------------------------------------------------------------

    async def each_tier(
        self, operation: Callable[[Tier], Awaitable[None]]
    ) -> tuple[list[Tier], Exception | None]:
        """Run ``operation`` on every tier (lowest first, or concurrently); the failed ones
        and the last failure."""
        failures = await run_on_tiers(self.tiers, operation, concurrent=self._concurrent)
        for tier, exc in failures:
            if not isinstance(exc, TierUnavailable):
                self.tier_failed(tier)
        return [tier for tier, _ in failures], failures[-1][1] if failures else None

    def raise_if_shared_failed(
        self, failed: list[Tier], error: Exception | None, operation: str
    ) -> None:
        """Raise when a shared tier missed a delete: the invalidation did not happen there."""
        shared = [tier.name for tier in failed if not tier.private]
        if shared or (failed and len(failed) == len(self.tiers)):
            names = ", ".join(shared or [tier.name for tier in failed])
            raise BackendError(
                f"{operation} did not reach {names}: {describe(error) if error else 'failed'}"
            ) from error

    async def refill(self, refills: list[tuple[str, CachedValue | None, int]]) -> None:
        """Copy each ``(key, entry, source tier)`` into the tiers above its source, for what
        is left of the entry's lifetime (private tiers capped)."""
        now = self.clock()
        for tier in self.tiers:
            items: dict[str, tuple[CachedValue, float]] = {}
            for key, entry, source in refills:
                if entry is None or source <= tier.index:
                    continue
                remaining = entry.stale_until - now
                if remaining > 0:
                    lifetime = self.private_ttl(remaining) if tier.private else remaining
                    items[key] = (entry, lifetime)
            if items and await tier.try_write(items):
                self.refills += len(items)

    async def remember_absent(self, keys: set[str]) -> None:
        """Negative caching: the private tiers answer "absent" for ``keys`` for a while."""
        ttl = self.private_ttl(self.negative_ttl)
        for tier in self.private:
            await tier.try_write(dict.fromkeys(keys, (ABSENT, ttl)))

    async def apply_invalidation(self, invalidation: Invalidation) -> None:
        """Drop what another instance invalidated from the private tiers."""
        if invalidation.tags:
            self.reads.touch_all()
            if not self.tags.record(invalidation.tags, self.clock()):
                # Forgetting tag times could resurrect entries: drop them all instead.
                await self.flush_private()
                self.tags.record(invalidation.tags, self.clock())
        keys = list(invalidation.keys)
        if not keys:
            return
        self.touch(keys)
        for tier in self.private:
            await tier.try_delete(keys)

    async def flush_private(self) -> None:
        """Drop every entry of the private tiers."""
        self.reads.touch_all()
        for tier in self.private:
            await tier.flush()

    async def aclose(self) -> None:
        """Stop the bus tasks, close every tier (and a bus that is not a tier). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.watcher is not None:
            await self.watcher.aclose()
        closers: list[Any] = [tier.backend for tier in self.tiers]
        if self._owns_bus and self.watcher is not None:
            closers.append(self.watcher.bus)
        for closer in closers:
            close = getattr(closer, "aclose", None)
            if close is None:
                continue
            try:
                await close()
            except Exception as exc:
                self.top.log.warn("aclose", f"closing {closer!r} failed ({describe(exc)})")

    def stats(self) -> TieredStats:
        """Counters since creation (per-tier hits and errors, bus traffic and state)."""
        watcher = self.watcher
        return TieredStats(
            hits=tuple(tier.hits for tier in self.tiers),
            errors=tuple(tier.errors for tier in self.tiers),
            refills=self.refills,
            negative_hits=self.negative_hits,
            bus="none" if watcher is None else watcher.state,
            invalidations_received=0 if watcher is None else watcher.received,
            invalidations_published=0 if watcher is None else watcher.published,
            publish_failures=0 if watcher is None else watcher.publish_failures,
            flushes=0 if watcher is None else watcher.flushes,
        )
