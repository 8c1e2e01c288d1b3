"""A count-min sketch of access frequencies with periodic halving (TinyLFU's filter).

Four rows of saturating counters (0..15, one byte each) indexed by disjoint bit windows
of the key's 64-bit ``hash``. A key's estimate is the smallest of its four counters. After
``10 x capacity`` additions every counter is halved, so the sketch forgets old popularity
(TinyLFU's *reset*); halving runs in C through :meth:`bytes.translate`.

Python's ``str`` hash is randomised per process (SipHash), so an attacker cannot aim keys
at chosen counters from outside.
"""

from __future__ import annotations

from typing import Final, final

__all__ = ["FrequencySketch"]

_MAX_COUNT: Final = 15
_HALVE: Final = bytes(count >> 1 for count in range(256))
_WIDTH_PER_ENTRY: Final = 4
"""Counters per row per expected entry (rounded up to a power of two)."""
_SAMPLE_PER_ENTRY: Final = 10
"""Additions per expected entry between two halvings (TinyLFU's sample size W)."""


@final
class FrequencySketch:
    """Approximate, aging access counts for any number of keys in fixed memory."""

    __slots__ = ("_additions", "_capacity", "_mask", "_rows", "_sample", "_shifts", "resets")

    def __init__(self, capacity: int) -> None:
        self.resets = 0
        """How many times the counters were halved (the aging epoch)."""
        self._rows: tuple[bytearray, bytearray, bytearray, bytearray]
        self._capacity = 0
        self.ensure_capacity(capacity)

    @property
    def capacity(self) -> int:
        """The entry count the sketch is sized for."""
        return self._capacity

    def ensure_capacity(self, capacity: int) -> None:
        """Size for ``capacity`` entries; growing forgets every count (as Caffeine does)."""
        capacity = max(16, capacity)
        if capacity <= self._capacity:
            return
        width = 1 << ((capacity * _WIDTH_PER_ENTRY) - 1).bit_length()
        bits = width.bit_length() - 1
        step = max(1, (64 - bits) // 3)
        self._capacity = capacity
        self._mask = width - 1
        self._shifts = (step, 2 * step, 3 * step)
        self._rows = (bytearray(width), bytearray(width), bytearray(width), bytearray(width))
        self._sample = capacity * _SAMPLE_PER_ENTRY
        self._additions = 0

    def increment(self, key: str) -> int:
        """Count one access of ``key``; returns its new estimate (0..15).

        Halves every counter when the sample is full (:attr:`resets` then grows).
        """
        h = hash(key)
        mask = self._mask
        s1, s2, s3 = self._shifts
        r0, r1, r2, r3 = self._rows
        i0, i1, i2, i3 = h & mask, (h >> s1) & mask, (h >> s2) & mask, (h >> s3) & mask
        v0, v1, v2, v3 = r0[i0], r1[i1], r2[i2], r3[i3]
        if v0 < _MAX_COUNT:
            v0 += 1
            r0[i0] = v0
        if v1 < _MAX_COUNT:
            v1 += 1
            r1[i1] = v1
        if v2 < _MAX_COUNT:
            v2 += 1
            r2[i2] = v2
        if v3 < _MAX_COUNT:
            v3 += 1
            r3[i3] = v3
        self._additions += 1
        if self._additions >= self._sample:
            self._halve()
            return min(v0, v1, v2, v3) >> 1
        if v1 < v0:
            v0 = v1
        if v3 < v2:
            v2 = v3
        return v0 if v0 < v2 else v2

    def raise_to(self, key: str, count: int) -> None:
        """Make sure every counter of ``key`` is at least ``count`` (at most 15).

        Used when an entry that counted its own hits leaves the cache: its frequency
        goes back into the history without double-counting what the sketch already has.
        """
        count = min(count, _MAX_COUNT)
        h = hash(key)
        mask = self._mask
        s1, s2, s3 = self._shifts
        r0, r1, r2, r3 = self._rows
        i0, i1, i2, i3 = h & mask, (h >> s1) & mask, (h >> s2) & mask, (h >> s3) & mask
        estimate = min(r0[i0], r1[i1], r2[i2], r3[i3])
        if r0[i0] < count:
            r0[i0] = count
        if r1[i1] < count:
            r1[i1] = count
        if r2[i2] < count:
            r2[i2] = count
        if r3[i3] < count:
            r3[i3] = count
        if estimate < count:
            self._additions += count - estimate
            if self._additions >= self._sample:
                self._halve()

    def estimate(self, key: str) -> int:
        """The (over-)estimated access count of ``key`` (0..15)."""
        h = hash(key)
        mask = self._mask
        s1, s2, s3 = self._shifts
        r0, r1, r2, r3 = self._rows
        return min(r0[h & mask], r1[(h >> s1) & mask], r2[(h >> s2) & mask], r3[(h >> s3) & mask])

    def _halve(self) -> None:
        self._rows = tuple(row.translate(_HALVE) for row in self._rows)  # type: ignore[assignment]
        self._additions //= 2
        self.resets += 1
