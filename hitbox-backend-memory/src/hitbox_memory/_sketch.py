"""A count-min sketch of access frequencies with periodic halving (TinyLFU's filter).

Two rows of saturating counters (0..15, one byte each), indexed by the low and by the high
bits of the key's 64-bit ``hash``. A key's estimate is the smaller of its two counters. Updates are
*conservative*: only counters at the estimate are raised, so a collision inflates a
counter only as far as the key's own count, which keeps two wide rows as accurate as
four narrow ones (same memory) at half the cost of a pure-Python update. After
``10 x capacity`` additions every counter is halved, so the sketch forgets old popularity
(TinyLFU's *reset*); halving runs in C through :meth:`bytes.translate`.

Python's ``str`` hash is randomised per process (SipHash), so an attacker cannot aim keys
at chosen counters from outside.
"""

from __future__ import annotations

import sys
from typing import Final, final

__all__ = ["FrequencySketch"]

_MAX_COUNT: Final = 15
_HALVE: Final = bytes(count >> 1 for count in range(256))
_WIDTH_PER_ENTRY: Final = 8
"""Counters per row per expected entry (rounded up to a power of two)."""
_SAMPLE_PER_ENTRY: Final = 10
"""Additions per expected entry between two halvings (TinyLFU's sample size W)."""


@final
class FrequencySketch:
    """Approximate, aging access counts for any number of keys in fixed memory.

    Its state is public because the store's write path repeats :meth:`increment` inline
    (a call costs a tenth of an insertion): a key's counters are
    ``rows[0][hash(key) & mask]`` and ``rows[1][hash(key) >> shift]``; ``additions``
    counts the updates since the last halving, which happens when it reaches ``sample``
    (:meth:`halve`).
    """

    __slots__ = ("_capacity", "additions", "mask", "resets", "rows", "sample", "shift")

    def __init__(self, capacity: int) -> None:
        self.resets = 0
        """How many times the counters were halved (the aging epoch)."""
        self.rows: tuple[bytearray, bytearray]
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
        self._capacity = capacity
        self.mask = width - 1
        # The second row takes the hash's top bits: ``hash >> shift`` is already in range
        # (negative for half the keys, which index a bytearray from its end), one big-int
        # operation instead of a shift and a mask. With 64-bit hashes, rows up to 2**32
        # wide stay independent.
        self.shift = sys.hash_info.width - width.bit_length() + 1
        self.rows = (bytearray(width), bytearray(width))
        self.sample = capacity * _SAMPLE_PER_ENTRY
        self.additions = 0

    def increment(self, key: str) -> int:
        """Count one access of ``key``; returns its new estimate (0..15).

        Halves every counter when the sample is full (:attr:`resets` then grows).
        """
        h = hash(key)
        mask = self.mask
        r0, r1 = self.rows
        i0, i1 = h & mask, h >> self.shift
        v0, v1 = r0[i0], r1[i1]
        count = v0 if v0 < v1 else v1
        if count < _MAX_COUNT:
            count += 1
            if v0 < count:
                r0[i0] = count
            if v1 < count:
                r1[i1] = count
        additions = self.additions = self.additions + 1
        if additions >= self.sample:
            self.halve()
            return count >> 1
        return count

    def raise_to(self, key: str, count: int) -> None:
        """Make sure every counter of ``key`` is at least ``count`` (at most 15).

        Used when an entry that counted its own hits leaves the cache: its frequency
        goes back into the history without double-counting what the sketch already has.
        """
        count = min(count, _MAX_COUNT)
        h = hash(key)
        mask = self.mask
        r0, r1 = self.rows
        i0, i1 = h & mask, h >> self.shift
        v0, v1 = r0[i0], r1[i1]
        estimate = v0 if v0 < v1 else v1
        if estimate < count:
            if v0 < count:
                r0[i0] = count
            if v1 < count:
                r1[i1] = count
            self.additions += count - estimate
            if self.additions >= self.sample:
                self.halve()

    def estimate(self, key: str) -> int:
        """The (over-)estimated access count of ``key`` (0..15)."""
        h = hash(key)
        mask = self.mask
        r0, r1 = self.rows
        return min(r0[h & mask], r1[h >> self.shift])

    def halve(self) -> None:
        """Halve every counter (TinyLFU's reset): old popularity fades."""
        self.rows = tuple(row.translate(_HALVE) for row in self.rows)  # type: ignore[assignment]
        self.additions //= 2
        self.resets += 1
