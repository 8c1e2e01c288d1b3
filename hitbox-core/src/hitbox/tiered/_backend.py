"""The tiered backend: backends stacked L1 → L2 → ..., kept coherent across instances.

::

    from hitbox.tiered import TieredBackend

    backend = TieredBackend([MemoryBackend(max_entries=10_000), RedisBackend.from_url(url)])
    cache = hitbox.Cache(backend)

or by configuration: ``backend = {name = "tiered", tiers = [{name = "memory"},
{url = "redis://..."}]}``. Reads go down the tiers and refill the tiers above a hit;
writes and deletes reach every tier; a failing tier degrades to the others; the private
(per-instance) tiers drop what other instances rewrite or invalidate, through an
:class:`hitbox.InvalidationBus`. ``docs/backends/tiered.md`` tells the whole story.

This module holds the single-key operations and the classes with the optional
capabilities; the state they share with the multi-key operations (``_batch``) is the
:class:`~hitbox.tiered._stack.TierStack`'s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Literal

from hitbox._defaults import (
    DEFAULT_BACKEND_TIMEOUT,
    DEFAULT_FAILURE_THRESHOLD,
    DEFAULT_PROBE_INTERVAL,
)
from hitbox._errors import BackendError, ConfigError, CorruptEntry
from hitbox.backend._contract import Backend, BatchBackend, InvalidationBus, LockingBackend
from hitbox.backend._value import CachedValue
from hitbox.tiered import _batch as batch_ops
from hitbox.tiered._config import (
    TieredConfig,
    WritePolicy,
    check_options,
    check_tiers,
    create_tiered_backend,
    find_bus,
)
from hitbox.tiered._local import LocalReader
from hitbox.tiered._stack import TieredStats, TierStack
from hitbox.tiered._tier import Tier, TierUnavailable, describe, is_absent, ping_tiers

_running_loop: Final = asyncio.get_running_loop

__all__ = ["TieredBackend", "TieredConfig", "TieredStats", "WritePolicy", "create_tiered_backend"]


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
        self.write_policy: WritePolicy = write_policy
        self.is_local = all(backend.is_local for backend in backends) or (
            backends[0].is_local and tier_timeout is not None
        )
        self.stores_objects = backends[0].stores_objects
        self.open_timeout = max(backend.open_timeout for backend in backends)
        self.label = "tiered[" + "+".join(tier.label for tier in self.tiers) + "]"
        self._stack = stack = TierStack(
            self.tiers,
            concurrent=write_policy == "concurrent",
            max_l1_ttl=max_l1_ttl,
            outage_l1_ttl=outage_l1_ttl,
            negative_ttl=negative_ttl,
            bus=bus_object,
            bus_index=bus_index,
            probe_interval=probe_interval,
            recovery_grace=recovery_grace,
            bus_timeout=max(1.0, tier_timeout or 0.0),
            clock=clock,
            monotonic=monotonic,
        )
        # Read on every call: kept as this object's own attributes (the same objects).
        self._top = stack.top
        self._watcher = stack.watcher
        self._reads = stack.reads
        self._tags = stack.tags
        self._tag_times = stack.tags.times
        self._local = LocalReader(stack)
        self.local_reads = self._local.available
        """Whether :meth:`read_local` can answer (L1 reads locally), as ``LocalReads`` asks."""

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
                self._stack.negative_hits += 1
                return None
            if not self._tag_times or not self._tags.stale(entry):
                top.hits += 1
                return entry
        if len(self.tiers) == 1:
            if error is not None:
                raise error
            return None
        return await self._get_below(key, failures, error)

    def read_local(self, key: str) -> CachedValue | Any | None:
        """The L1 entry ``get(key)`` would return now, without I/O, or ``NOT_LOCAL``
        (:class:`hitbox.backend.LocalReads`; ``hitbox.tiered._local`` says when)."""
        return self._local.read(key)

    async def _get_below(
        self, key: str, failures: int, error: Exception | None
    ) -> CachedValue | None:
        stack = self._stack
        found: CachedValue | None = None
        source: Tier | None = None
        absent_below = settled = False
        self._reads.begin(key)
        try:
            for tier in self.tiers[1:]:
                try:
                    entry = await tier.run("get", tier.backend.get, tier.key(key))
                except CorruptEntry:
                    settled = True  # something is there; let the next write replace it
                    continue
                except Exception as exc:
                    failures, error = failures + 1, exc
                    stack.tier_failed(tier)
                    continue
                if entry is None:
                    continue
                if tier.private and is_absent(entry):
                    absent_below = True
                    break
                if stack.stale(entry):
                    settled = True
                    continue
                found, source = entry, tier
                break
        finally:
            stale = self._reads.end(key)
        if found is not None and source is not None:
            source.hits += 1
            if not stale:
                await stack.refill([(key, found, source.index)])
            return found
        if failures == len(self.tiers) and error is not None:
            raise error
        if absent_below:
            stack.negative_hits += 1
        elif not (stale or failures or settled) and stack.negative_ttl:
            await stack.remember_absent({key})
        return None

    async def set(self, key: str, value: CachedValue, ttl: float) -> None:
        """Write to every tier (private tiers capped), then tell the other instances."""
        stack = self._stack
        stack.ensure_bus()
        self._reads.touch(key)
        private_ttl = stack.private_ttl(ttl)

        def write(tier: Tier) -> Awaitable[None]:
            lifetime = private_ttl if tier.private else ttl
            return tier.run("set", tier.backend.set, tier.key(key), value, lifetime)

        failed, error = await stack.each_tier(write)
        self._reads.touch(key)
        if len(failed) == len(self.tiers) and error is not None:
            raise error
        stack.publish((key,))

    async def delete(self, key: str) -> None:
        """Delete from every tier, then tell the other instances.

        Raises (after trying every tier) when a shared tier could not be reached.
        """
        stack = self._stack
        stack.ensure_bus()
        self._reads.touch(key)

        def remove(tier: Tier) -> Awaitable[None]:
            return tier.run("delete", tier.backend.delete, tier.key(key))

        failed, error = await stack.each_tier(remove)
        self._reads.touch(key)
        stack.publish((key,))
        stack.raise_if_shared_failed(failed, error, "delete")

    async def aclose(self) -> None:
        """Stop the bus tasks, close every tier (and a bus that is not a tier). Idempotent."""
        await self._stack.aclose()

    async def open(self) -> None:
        """Open every tier at once (and start listening to the bus); raises
        :class:`hitbox.BackendError` naming the tiers that could not open."""
        self._stack.ensure_bus()
        results = await asyncio.gather(
            *(tier.backend.open() for tier in self.tiers), return_exceptions=True
        )
        failed = [
            f"{tier.name}: {describe(result)}"
            for tier, result in zip(self.tiers, results, strict=True)
            if isinstance(result, BaseException)
        ]
        if failed:
            raise BackendError("tiers not opened: " + "; ".join(failed))

    # -- Healthcheck ----------------------------------------------------------------------

    async def ping(self) -> bool:
        """Ping every tier that can be pinged; raises :class:`hitbox.BackendError` naming
        the tiers that did not answer (tiers without ``ping`` count as healthy)."""
        return await ping_tiers(self.tiers)

    # -- public helpers -------------------------------------------------------------------

    async def flush_private(self) -> None:
        """Drop every entry of the private tiers (what the bus watcher does after an outage)."""
        await self._stack.flush_private()

    async def flush_invalidations(self) -> None:
        """Wait until the invalidations published so far have been sent (publishing runs
        in the background: writes never wait for it)."""
        if self._watcher is not None:
            await self._watcher.flush()

    def stats(self) -> TieredStats:
        """Counters since creation (per-tier hits and errors, bus traffic and state)."""
        return self._stack.stats()

    @property
    def bus(self) -> InvalidationBus | None:
        """The invalidation bus in use, if any."""
        return None if self._watcher is None else self._watcher.bus

    def __repr__(self) -> str:
        return f"TieredBackend({self.label}, write_policy={self.write_policy!r})"


# -- the optional capabilities --------------------------------------------------------------
# The core checks capabilities with ``isinstance`` against runtime protocols, once per
# cache. A tiered backend must therefore *lack* ``get_many`` when no tier batches and
# ``acquire_lock`` when no tier locks; ``TieredBackend.__new__`` picks the class whose
# methods match its tiers'.


class _WithBatch(TieredBackend):
    """A tiered backend whose tiers can batch: adds ``BatchBackend``; each tier is asked
    once for what the tiers above lacked."""

    async def get_many(self, keys: Sequence[str]) -> list[CachedValue | None]:
        """Entries for ``keys`` in order: each tier is asked once for what is still missing."""
        return await batch_ops.get_many(self._stack, keys)

    async def set_many(self, items: Mapping[str, tuple[CachedValue, float]]) -> None:
        """Store every ``key -> (value, ttl)`` in every tier, then tell the other instances."""
        await batch_ops.set_many(self._stack, items)

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Delete ``keys`` from every tier, then tell the other instances."""
        await batch_ops.delete_many(self._stack, keys)


class _WithLocking(TieredBackend):
    """A tiered backend with ``LockingBackend``, delegated to the lowest tier that locks
    (the shared one)."""

    async def acquire_lock(self, key: str, ttl: float) -> str | None:
        """The lowest locking tier's ``acquire_lock``."""
        tier = self._stack.lock_tier
        assert tier is not None
        backend: Any = tier.backend
        token: str | None = await tier.run("acquire_lock", backend.acquire_lock, key, ttl)
        return token

    async def release_lock(self, key: str, token: str) -> None:
        """The lowest locking tier's ``release_lock``."""
        tier = self._stack.lock_tier
        assert tier is not None
        backend: Any = tier.backend
        await tier.run("release_lock", backend.release_lock, key, token)


class _WithBatchAndLocking(_WithLocking, _WithBatch):
    """A tiered backend with ``BatchBackend`` and ``LockingBackend``."""


_KINDS: Final[dict[tuple[bool, bool], type[TieredBackend]]] = {
    (False, False): TieredBackend,
    (True, False): _WithBatch,
    (False, True): _WithLocking,
    (True, True): _WithBatchAndLocking,
}
