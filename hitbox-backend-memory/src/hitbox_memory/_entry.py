"""The record the memory backend keeps per key: a float that is its own expiry time."""

from __future__ import annotations

from typing import Any, Final, final

from hitbox_memory._wheel import Bucket

__all__ = ["MAX_FREQUENCY", "Entry"]

MAX_FREQUENCY: Final = 15
"""Where an entry's frequency saturates (the sketch's counters stop there too)."""


@final
class Entry(float):
    """One stored entry. Its float value is its expiry time (unix seconds).

    Being a float saves the separate float object an ``expires_at`` attribute would point
    to: 32 bytes per entry once allocator rounding is counted, a tenth of what a
    million-entry store adds to the values it holds. Compare it with the clock directly
    (``entry > now`` means still alive). Entries are never updated: an overwrite puts a
    new one in place, so a lock-free reader always sees one consistent entry. Never test
    an entry for truth (expiry 0.0 is falsy); test ``is None``.
    """

    __slots__ = ("bucket", "epoch", "freq", "stored", "weight")

    stored: Any
    """The :class:`hitbox.CachedValue` (object mode) or its envelope bytes."""
    weight: int
    """What the entry counts against ``max_bytes``."""
    epoch: int
    """The sketch epoch ``freq`` is up to date with."""
    freq: int
    """Estimated accesses of the key (0..15), halved with the sketch."""
    bucket: Bucket | None
    """The expiry wheel bucket holding the key."""

    def __new__(cls, expires_at: float, stored: Any, weight: int, epoch: int, freq: int) -> Entry:
        """An entry living until ``expires_at``."""
        entry = float.__new__(cls, expires_at)
        entry.stored = stored
        entry.weight = weight
        entry.epoch = epoch
        entry.freq = freq
        entry.bucket = None
        return entry
