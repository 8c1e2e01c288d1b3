"""Many keys at once for the tiered backend: ``BatchBackend`` and received invalidations.

``get_many`` asks L1 for every key, the next tier for what L1 lacked, and so on; each
tier is read with its own ``get_many`` when it has one (a Redis ``MGET``), else key by
key. Entries found below are copied up (one ``set_many`` per upper tier where possible),
keys found nowhere are remembered as absent in the private tiers. Writes and deletes
follow the single-key rules of :class:`hitbox.tiered.TieredBackend`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from hitbox._errors import CorruptEntry
from hitbox.backend._contract import Invalidation
from hitbox.backend._value import CachedValue
from hitbox.tiered._tier import ABSENT, Tier, is_absent

if TYPE_CHECKING:
    from hitbox.tiered import TieredBackend

__all__ = [
    "apply_invalidation",
    "delete_in_tier",
    "delete_many",
    "get_many",
    "read_tier",
    "refill",
    "remember_absent",
    "set_many",
    "write_tier",
]

_CORRUPT: Final = CachedValue(b"", -2.0, -2.0, -2.0)
"""Stands for an entry a tier holds but cannot decode (not a miss: never cached absent)."""

_Read = CachedValue | None


async def read_tier(tier: Tier, keys: Sequence[str]) -> list[_Read]:
    """``tier``'s entries for ``keys``; undecodable ones come back as ``_CORRUPT``."""
    backend: Any = tier.backend
    stored = [tier.key(key) for key in keys] if tier.prefix else list(keys)
    if tier.can_batch:
        try:
            return list(await tier.run("get_many", backend.get_many, stored))
        except CorruptEntry:
            pass  # one bad entry spoils the batch: find it key by key
    if backend.is_local:
        return [await _read_one(tier, key) for key in stored]
    return list(await asyncio.gather(*(_read_one(tier, key) for key in stored)))


async def _read_one(tier: Tier, key: str) -> _Read:
    try:
        entry: _Read = await tier.run("get", tier.backend.get, key)
    except CorruptEntry:
        return _CORRUPT
    return entry


async def get_many(backend: TieredBackend, keys: Sequence[str]) -> list[CachedValue | None]:
    """Entries for ``keys`` in order, reading each tier once for what is still missing."""
    if backend._watcher is not None:
        backend._watcher.ensure_running()
    results: list[CachedValue | None] = [None] * len(keys)
    if not keys:
        return results
    pending = list(range(len(keys)))
    sources: dict[int, int] = {}
    unsettled: set[int] = set()  # corrupt or invalidated by a tag: not cached as absent
    failures = 0
    error: Exception | None = None
    reading: list[str] = []
    stale: set[str] = set()
    try:
        for tier in backend.tiers:
            if not pending:
                break
            if tier.index == 1:
                reading = [keys[index] for index in pending]
                for key in reading:
                    backend._guard.begin(key)
            try:
                found = await read_tier(tier, [keys[index] for index in pending])
            except Exception as exc:
                failures, error = failures + 1, exc
                backend._tier_failed(tier)
                continue
            still: list[int] = []
            for index, entry in zip(pending, found, strict=True):
                if entry is None:
                    still.append(index)
                elif entry is _CORRUPT or (backend._tags.times and backend._tags.stale(entry)):
                    unsettled.add(index)
                    still.append(index)
                elif tier.private and is_absent(entry):
                    backend._negative_hits += 1
                else:
                    results[index] = entry
                    sources[index] = tier.index
                    tier.hits += 1
            pending = still
    finally:
        stale = {key for key in reading if backend._guard.end(key)}
    if failures == len(backend.tiers) and error is not None:
        raise error
    refills = [
        (keys[index], results[index], source)
        for index, source in sources.items()
        if source > 0 and keys[index] not in stale
    ]
    if refills:
        await refill(backend, refills)
    if not failures and backend._negative_ttl:
        absent = {keys[index] for index in pending if index not in unsettled} - stale
        if absent:
            await remember_absent(backend, absent)
    return results


async def refill(
    backend: TieredBackend, refills: list[tuple[str, CachedValue | None, int]]
) -> None:
    """Copy each ``(key, entry, source tier)`` into the tiers above its source, for what
    is left of the entry's lifetime (private tiers capped)."""
    now = backend._clock()
    for tier in backend.tiers:
        items: dict[str, tuple[CachedValue, float]] = {}
        for key, entry, source in refills:
            if entry is None or source <= tier.index:
                continue
            remaining = entry.stale_until - now
            if remaining > 0:
                lifetime = backend._private_ttl(remaining) if tier.private else remaining
                items[tier.key(key)] = (entry, lifetime)
        if items and await write_tier(tier, items):
            backend._refills += len(items)


async def remember_absent(backend: TieredBackend, keys: set[str]) -> None:
    """Negative caching: the private tiers answer "absent" for ``keys`` for a while."""
    ttl = backend._private_ttl(backend._negative_ttl)
    for tier in backend._private:
        await write_tier(tier, {tier.key(key): (ABSENT, ttl) for key in keys})


async def write_tier(tier: Tier, items: dict[str, tuple[CachedValue, float]]) -> bool:
    """Store ``items`` (keys already as the tier stores them); whether it worked."""
    backend: Any = tier.backend
    try:
        if tier.can_batch and len(items) > 1:
            await tier.run("set_many", backend.set_many, items)
        else:
            for key, (value, ttl) in items.items():
                await tier.run("set", backend.set, key, value, ttl)
    except Exception:  # counted and logged by the tier
        return False
    return True


async def set_many(backend: TieredBackend, items: Mapping[str, tuple[CachedValue, float]]) -> None:
    """Store every ``key -> (value, ttl)`` in every tier, then tell the other instances."""
    if not items:
        return
    if backend._watcher is not None:
        backend._watcher.ensure_running()
    for key in items:
        backend._guard.touch(key)

    def write(tier: Tier) -> Awaitable[None]:
        mapping = {
            tier.key(key): (value, backend._private_ttl(ttl) if tier.private else ttl)
            for key, (value, ttl) in items.items()
        }
        return _write_strict(tier, mapping)

    failed, error = await backend._each_tier(write)
    for key in items:
        backend._guard.touch(key)
    if len(failed) == len(backend.tiers) and error is not None:
        raise error
    if backend._watcher is not None:
        backend._watcher.publish(list(items))


async def _write_strict(tier: Tier, items: dict[str, tuple[CachedValue, float]]) -> None:
    backend: Any = tier.backend
    if tier.can_batch:
        await tier.run("set_many", backend.set_many, items)
        return
    for key, (value, ttl) in items.items():
        await tier.run("set", backend.set, key, value, ttl)


async def delete_many(backend: TieredBackend, keys: Sequence[str]) -> None:
    """Delete ``keys`` from every tier, then tell the other instances.

    Raises (after trying every tier) when a shared tier could not be reached.
    """
    if not keys:
        return
    if backend._watcher is not None:
        backend._watcher.ensure_running()
    for key in keys:
        backend._guard.touch(key)

    def remove(tier: Tier) -> Awaitable[None]:
        return _delete_strict(tier, [tier.key(key) for key in keys])

    failed, error = await backend._each_tier(remove)
    for key in keys:
        backend._guard.touch(key)
    if backend._watcher is not None:
        backend._watcher.publish(list(keys))
    backend._raise_if_shared_failed(failed, error, "delete_many")


async def _delete_strict(tier: Tier, keys: list[str]) -> None:
    backend: Any = tier.backend
    if tier.can_batch and len(keys) > 1:
        await tier.run("delete_many", backend.delete_many, keys)
        return
    for key in keys:
        await tier.run("delete", backend.delete, key)


async def delete_in_tier(tier: Tier, keys: list[str]) -> None:
    """Best-effort delete of ``keys`` from one tier (failures are logged by the tier)."""
    try:
        await _delete_strict(tier, [tier.key(key) for key in keys])
    except Exception:
        return


async def apply_invalidation(backend: TieredBackend, invalidation: Invalidation) -> None:
    """Drop what another instance invalidated from ``backend``'s private tiers."""
    if invalidation.tags:
        backend._guard.touch_all()
        if not backend._tags.record(invalidation.tags, backend._clock()):
            # Forgetting tag times could resurrect entries: drop them all instead.
            await backend.flush_private()
            backend._tags.record(invalidation.tags, backend._clock())
    keys = list(invalidation.keys)
    if not keys:
        return
    for key in keys:
        backend._guard.touch(key)
    for tier in backend._private:
        await delete_in_tier(tier, keys)
