"""A timer wheel that finds expired entries without scanning the whole store.

Keys go into buckets by expiry time. A bucket's width grows with how far away the expiry
is (1/16 to 1/32 of the remaining lifetime, at least 1/16 s), so a key lives in one of
few, large buckets and a sweep reclaims an entry at most ~6 % of its TTL after it expired.
Reads never depend on the wheel: they check expiry exactly themselves.

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
_WIDTHS: Final = {level: math.ldexp(1.0, level) for level in range(_MIN_LEVEL, _MAX_LEVEL + 1)}


@final
class ExpiryWheel:
    """Buckets of keys ordered by the time by which all their entries have expired."""

    __slots__ = (
        "_buckets",
        "_draining",
        "_heap",
        "last_bucket",
        "last_end",
        "last_reach",
        "last_start",
        "next_due",
    )

    def __init__(self) -> None:
        self._buckets: dict[tuple[int, int], Bucket] = {}
        self._heap: list[tuple[float, int, int]] = []
        self._draining: Bucket | None = None
        self.next_due = math.inf
        """When :meth:`pop_due` will next have work (callers skip it until then)."""
        self.last_bucket: Bucket = set()
        """The bucket :meth:`schedule` used last, spanning ``[last_start, last_end)``.

        Writers may add a key straight to it when its expiry falls in that span and is at
        least ``last_reach`` seconds away (so the bucket is no wider than 1/16 of its TTL):
        the common case of one TTL for many writes then skips :meth:`schedule`.
        """
        self.last_start = math.inf
        self.last_end = -math.inf
        self.last_reach = math.inf

    def schedule(self, key: str, expires_at: float, now: float) -> Bucket | None:
        """File ``key`` under ``expires_at``; returns its bucket (keep it to discard the key).

        An entry that never expires (``expires_at`` is infinite) is not filed: ``None``.
        """
        if expires_at == math.inf:
            return None
        span = expires_at - now
        level = math.frexp(span)[1] - _LEVEL_OFFSET if span > 0 else _MIN_LEVEL
        if level < _MIN_LEVEL:
            level = _MIN_LEVEL
        elif level > _MAX_LEVEL:
            level = _MAX_LEVEL
        width = _WIDTHS[level]
        index = int(expires_at // width)
        bucket = self._buckets.get((level, index))
        if bucket is None:
            bucket = self._buckets[level, index] = set()
            end = (index + 1) * width
            heapq.heappush(self._heap, (end, level, index))
            if end < self.next_due:
                self.next_due = end
        bucket.add(key)
        self.last_bucket = bucket
        self.last_start = index * width
        self.last_end = (index + 1) * width
        self.last_reach = width * 16
        return bucket

    def pop_due(self, now: float, budget: int) -> list[str]:
        """Up to ``budget`` keys from buckets whose whole span lies before ``now``."""
        keys: list[str] = []
        heap = self._heap
        while len(keys) < budget:
            draining = self._draining
            if draining:
                keys.append(draining.pop())
                continue
            self._draining = None
            if not heap or heap[0][0] > now:
                break
            _, level, index = heapq.heappop(heap)
            self._draining = self._buckets.pop((level, index), None)
            if self._draining is self.last_bucket:  # only reachable if the clock went back
                self.last_start, self.last_end = math.inf, -math.inf
        self.next_due = now if self._draining else (heap[0][0] if heap else math.inf)
        return keys

    def clear(self) -> None:
        """Forget every bucket."""
        self._buckets.clear()
        self._heap.clear()
        self._draining = None
        self.next_due = math.inf
        self.last_bucket = set()
        self.last_start = math.inf
        self.last_end = -math.inf

    def __len__(self) -> int:
        """Number of live buckets (for tests and introspection)."""
        return len(self._buckets)
