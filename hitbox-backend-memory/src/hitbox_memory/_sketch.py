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
_WIDTH_PER_ENTRY: Final = 2
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

    def increment(self, key: str, count: int = 1) -> bool:
        """Add ``count`` accesses of ``key``; True if this addition triggered a halving."""
        h = hash(key)
        mask = self._mask
        s1, s2, s3 = self._shifts
        r0, r1, r2, r3 = self._rows
        i = h & mask
        v = r0[i] + count
        r0[i] = v if v < _MAX_COUNT else _MAX_COUNT
        i = (h >> s1) & mask
        v = r1[i] + count
        r1[i] = v if v < _MAX_COUNT else _MAX_COUNT
        i = (h >> s2) & mask
        v = r2[i] + count
        r2[i] = v if v < _MAX_COUNT else _MAX_COUNT
        i = (h >> s3) & mask
        v = r3[i] + count
        r3[i] = v if v < _MAX_COUNT else _MAX_COUNT
        self._additions += count
        if self._additions < self._sample:
            return False
        self._halve()
        return True

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
