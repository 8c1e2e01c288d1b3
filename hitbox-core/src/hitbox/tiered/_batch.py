"""Many keys at once for the tiered backend: the operations of ``BatchBackend``.

``get_many`` asks L1 for every key, the next tier for what L1 lacked, and so on; each
tier is read with its own ``get_many`` when it has one (a Redis ``MGET``), else key by
key. Entries found below are copied up (one ``set_many`` per upper tier where possible),
keys found nowhere are remembered as absent in the private tiers. Writes and deletes
follow the single-key rules of :class:`hitbox.tiered.TieredBackend`. Everything shared
with those rules (the tiers, the bus, the read guard, the counters) is the
:class:`~hitbox.tiered._stack.TierStack`'s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence

from hitbox.backend._value import CachedValue
from hitbox.tiered._stack import TierStack
from hitbox.tiered._tier import CORRUPT, Tier, is_absent

__all__ = ["delete_many", "get_many", "set_many"]


async def get_many(stack: TierStack, keys: Sequence[str]) -> list[CachedValue | None]:
    """Entries for ``keys`` in order, reading each tier once for what is still missing."""
    stack.ensure_bus()
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
        for tier in stack.tiers:
            if not pending:
                break
            if tier.index == 1:
                reading = [keys[index] for index in pending]
                for key in reading:
                    stack.reads.begin(key)
            try:
                found = await tier.read_many([keys[index] for index in pending])
            except Exception as exc:
                failures, error = failures + 1, exc
                stack.tier_failed(tier)
                continue
            still: list[int] = []
            for index, entry in zip(pending, found, strict=True):
                if entry is None:
                    still.append(index)
                elif entry is CORRUPT or stack.stale(entry):
                    unsettled.add(index)
                    still.append(index)
                elif tier.private and is_absent(entry):
                    stack.negative_hits += 1
                else:
                    results[index] = entry
                    sources[index] = tier.index
                    tier.hits += 1
            pending = still
    finally:
        stale = {key for key in reading if stack.reads.end(key)}
    if failures == len(stack.tiers) and error is not None:
        raise error
    refills = [
        (keys[index], results[index], source)
        for index, source in sources.items()
        if source > 0 and keys[index] not in stale
    ]
    if refills:
        await stack.refill(refills)
    if not failures and stack.negative_ttl:
        absent = {keys[index] for index in pending if index not in unsettled} - stale
        if absent:
            await stack.remember_absent(absent)
    return results


async def set_many(stack: TierStack, items: Mapping[str, tuple[CachedValue, float]]) -> None:
    """Store every ``key -> (value, ttl)`` in every tier, then tell the other instances."""
    if not items:
        return
    stack.ensure_bus()
    stack.touch(items)

    def write(tier: Tier) -> Awaitable[None]:
        if not tier.private:
            return tier.write_many(items)
        return tier.write_many(
            {key: (value, stack.private_ttl(ttl)) for key, (value, ttl) in items.items()}
        )

    failed, error = await stack.each_tier(write)
    stack.touch(items)
    if len(failed) == len(stack.tiers) and error is not None:
        raise error
    stack.publish(list(items))


async def delete_many(stack: TierStack, keys: Sequence[str]) -> None:
    """Delete ``keys`` from every tier, then tell the other instances.

    Raises (after trying every tier) when a shared tier could not be reached.
    """
    if not keys:
        return
    stack.ensure_bus()
    stack.touch(keys)

    def remove(tier: Tier) -> Awaitable[None]:
        return tier.delete_many(keys)

    failed, error = await stack.each_tier(remove)
    stack.touch(keys)
    stack.publish(list(keys))
    stack.raise_if_shared_failed(failed, error, "delete_many")
