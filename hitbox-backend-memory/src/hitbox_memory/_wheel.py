"""A timer wheel that finds expired entries without scanning the whole store.

Keys go into buckets by expiry time. A bucket's width grows with how far away the expiry
is (about 1/16 to 1/32 of the remaining lifetime, at least 1/16 s), so a key lives in one
of few, large buckets and a sweep reclaims an entry at most ~6 % of its TTL after it
expired. Reads never depend on the wheel: they check expiry exactly themselves.

Each entry remembers its bucket (a ``set``) so replacing or deleting it is O(1). Due
buckets are drained a few keys at a time (:meth:`ExpiryWheel.pop_due`), so no single
operation pays for a large batch of expiries.
"""

from __future__ import annotations

import heapq
import math
from typing import Final, final

__all__ = ["Bucket", "ExpiryWheel"]

Bucket = set[str]
"""The keys whose entries expire within one bucket's time span."""

_MIN_LEVEL: Final = -4
_MAX_LEVEL: Final = 40
_LEVEL_OFFSET: Final = 5


@final
class ExpiryWheel:
    """Buckets of keys ordered by the time by which all their entries have expired."""

    __slots__ = ("_buckets", "_draining", "_heap")

    def __init__(self) -> None:
        self._buckets: dict[tuple[int, int], Bucket] = {}
        self._heap: list[tuple[float, int, int]] = []
        self._draining: Bucket | None = None

    def schedule(self, key: str, expires_at: float, now: float) -> Bucket:
        """File ``key`` under ``expires_at``; returns its bucket (keep it for :meth:`discard`)."""
        span = expires_at - now
        level = _MIN_LEVEL
        if span > 0:
            level = min(_MAX_LEVEL, max(_MIN_LEVEL, math.frexp(span)[1] - _LEVEL_OFFSET))
        width = math.ldexp(1.0, level)
        index = math.floor(expires_at / width)
        bucket = self._buckets.get((level, index))
        if bucket is None:
            bucket = self._buckets[level, index] = set()
            heapq.heappush(self._heap, ((index + 1) * width, level, index))
        bucket.add(key)
        return bucket

    @staticmethod
    def discard(key: str, bucket: Bucket) -> None:
        """Forget ``key`` in ``bucket`` (the entry was replaced or removed)."""
        bucket.discard(key)

    def pop_due(self, now: float, budget: int) -> list[str]:
        """Up to ``budget`` keys from buckets whose whole span lies before ``now``."""
        keys: list[str] = []
        while len(keys) < budget:
            draining = self._draining
            if draining:
                keys.append(draining.pop())
                continue
            self._draining = None
            heap = self._heap
            if not heap or heap[0][0] > now:
                break
            _, level, index = heapq.heappop(heap)
            self._draining = self._buckets.pop((level, index), None)
        return keys

    def clear(self) -> None:
        """Forget every bucket."""
        self._buckets.clear()
        self._heap.clear()
        self._draining = None

    def __len__(self) -> int:
        """Number of live buckets (for tests and introspection)."""
        return len(self._buckets)
