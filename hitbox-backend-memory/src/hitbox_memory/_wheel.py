"""A timer wheel that finds expired entries without scanning the whole store.

Keys go into buckets by expiry time. A bucket's width grows with how far away the expiry
is (1/16 to 1/32 of the remaining lifetime, at least 1/16 s), so a key lives in one of
few, large buckets and a sweep reclaims an entry at most ~6 % of its TTL after it expired.
Reads never depend on the wheel: they check expiry exactly themselves.

Each entry remembers its bucket (a ``set`` that knows its span) so replacing or deleting
it is O(1), and an overwrite whose new expiry still falls in the entry's bucket leaves it
there. Due buckets are drained a few keys at a time (:meth:`ExpiryWheel.pop_due`), so no
single operation pays for a large batch of expiries.
"""

from __future__ import annotations

import heapq
import math
from typing import Final, final

__all__ = ["Bucket", "ExpiryWheel"]


@final
class Bucket(set[str]):
    """The keys whose entries expire within one bucket's time span ``[start, end)``.

    A writer may add a key whose entry expires in that span straight to the bucket if
    the entry's TTL is at least ``reach`` (16 times the width), so no bucket is wider than
    1/16 of the TTLs of its keys; otherwise it asks :meth:`ExpiryWheel.schedule`. Once
    the wheel starts draining a bucket, its span is emptied: nothing is filed there again.
    """

    __slots__ = ("end", "reach", "start")

    def __init__(self, start: float = math.inf, end: float = -math.inf) -> None:
        super().__init__()
        self.start = start
        self.end = end
        self.reach = (end - start) * 16

    def fits(self, expires_at: float, ttl: float) -> bool:
        """Whether a key expiring at ``expires_at``, ``ttl`` from now, may go here."""
        return self.start <= expires_at < self.end and ttl >= self.reach

    def close(self) -> None:
        """Accept no more keys (the wheel is draining or has forgotten this bucket)."""
        self.start, self.end = math.inf, -math.inf


_MIN_LEVEL: Final = -4
_MAX_LEVEL: Final = 40
_LEVEL_OFFSET: Final = 5
_WIDTHS: Final = {level: math.ldexp(1.0, level) for level in range(_MIN_LEVEL, _MAX_LEVEL + 1)}


@final
class ExpiryWheel:
    """Buckets of keys ordered by the time by which all their entries have expired."""

    __slots__ = ("_buckets", "_draining", "_heap", "last_bucket", "next_due")

    def __init__(self) -> None:
        self._buckets: dict[tuple[int, int], Bucket] = {}
        self._heap: list[tuple[float, int, int]] = []
        self._draining: Bucket | None = None
        self.next_due = math.inf
        """When :meth:`pop_due` will next have work (callers skip it until then)."""
        self.last_bucket = Bucket()
        """The bucket :meth:`schedule` used last (empty and closed at first).

        Writers add a key straight to it when it :meth:`~Bucket.fits`: the common case of
        one TTL for many writes then skips :meth:`schedule`.
        """

    def file(self, key: str, expires_at: float, ttl: float, now: float) -> Bucket | None:
        """File ``key`` (``ttl`` from now) in the last bucket if it fits, else schedule it."""
        bucket = self.last_bucket
        if bucket.start <= expires_at < bucket.end and ttl >= bucket.reach:
            bucket.add(key)
            return bucket
        return self.schedule(key, expires_at, now)

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
            end = (index + 1) * width
            bucket = self._buckets[level, index] = Bucket(index * width, end)
            heapq.heappush(self._heap, (end, level, index))
            if end < self.next_due:
                self.next_due = end
        bucket.add(key)
        self.last_bucket = bucket
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
            if self._draining is not None:
                self._draining.close()
        self.next_due = now if self._draining else (heap[0][0] if heap else math.inf)
        return keys

    def clear(self) -> None:
        """Forget every bucket."""
        for bucket in self._buckets.values():
            bucket.close()
        self._buckets.clear()
        self._heap.clear()
        self._draining = None
        self.next_due = math.inf
        self.last_bucket = Bucket()

    def __len__(self) -> int:
        """Number of live buckets (for tests and introspection)."""
        return len(self._buckets)
