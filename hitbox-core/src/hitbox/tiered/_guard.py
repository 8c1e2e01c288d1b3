"""Two small pieces of bookkeeping that keep private tiers from serving invalidated data.

:class:`ReadGuard` closes the classic near-cache race: an instance reads key ``k`` from
a lower tier (getting the old entry), another instance rewrites ``k`` and publishes the
invalidation, the invalidation arrives and drops nothing (``k`` is not in L1 yet), and
then the read copies the *old* entry into L1, where it would stay until it expires.
Every lower-tier read of ``k`` is registered; an invalidation, write or delete of ``k``
meanwhile marks it, and a marked read does not copy its entry upwards.

:class:`TagTimes` remembers tag invalidations received over the bus (``Invalidation.tags``,
published by code other than :class:`hitbox.Cache`, whose tag invalidation travels as
marker keys): an entry carrying such a tag and created no later than the invalidation
is treated as absent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, final

from hitbox.backend._value import CachedValue

__all__ = ["ReadGuard", "TagTimes"]

MAX_TAG_RECORDS: Final = 10_000
"""Most tag invalidations remembered; beyond that the private tiers are flushed instead."""


@final
class ReadGuard:
    """Lower-tier reads in flight per key, and the keys invalidated while they ran."""

    __slots__ = ("_invalidated", "_reading")

    def __init__(self) -> None:
        self._reading: dict[str, int] = {}
        self._invalidated: set[str] = set()

    def begin(self, key: str) -> None:
        """A read of ``key`` from the lower tiers starts."""
        self._reading[key] = self._reading.get(key, 0) + 1

    def end(self, key: str) -> bool:
        """The read of ``key`` is over; whether ``key`` was invalidated while it ran."""
        count = self._reading[key] - 1
        invalidated = key in self._invalidated
        if count:
            self._reading[key] = count
        else:
            del self._reading[key]
            self._invalidated.discard(key)
        return invalidated

    def touch(self, key: str) -> None:
        """``key`` was written, deleted or invalidated: reads in flight must not copy up."""
        if key in self._reading:
            self._invalidated.add(key)

    def touch_all(self) -> None:
        """Everything was invalidated (a flush, a tag): no read in flight copies up."""
        self._invalidated.update(self._reading)


@final
class TagTimes:
    """When each tag was last invalidated over the bus (this instance's clock)."""

    __slots__ = ("times",)

    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    def record(self, tags: Iterable[str], now: float) -> bool:
        """Remember ``tags`` as invalidated at ``now``; False when the table is full (it is
        then emptied, and the caller must flush what the forgotten times protected)."""
        tags = tuple(tags)
        if len(self.times) + len(tags) > MAX_TAG_RECORDS:
            self.times.clear()
            return False
        for tag in tags:
            self.times[tag] = now
        return True

    def stale(self, entry: CachedValue) -> bool:
        """Whether one of ``entry``'s tags was invalidated at or after its creation."""
        times = self.times
        created_at = entry.created_at
        return any(times.get(tag, -1.0) >= created_at for tag in entry.tags)
