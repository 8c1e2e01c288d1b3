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
    (``entry > now`` means still alive). Never test an entry for truth (expiry 0.0 is
    falsy); test ``is None``.

    ``Entry(expires_at)`` leaves the slots unset: writers fill them all before they
    publish the entry (no ``__init__``: a Python-level constructor frame would cost more
    than the stores). An overwrite that keeps the expiry (an entry that never expires, or
    a second write within the same clock tick) only replaces ``stored`` (and the counts)
    in place: a lock-free reader then returns the old value or the new one, both live.
    An overwrite that changes the expiry puts a new entry in place of the old one.
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
    """The expiry wheel bucket holding the key (``None`` if it never expires)."""
