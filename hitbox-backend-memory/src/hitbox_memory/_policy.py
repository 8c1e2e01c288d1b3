"""Where entries live: W-TinyLFU's segments, as in Caffeine, and the moves between them.

Entries live in three LRU-ordered segments (:class:`collections.OrderedDict`, so reordering
runs in C). With the ``tinylfu`` policy they form W-TinyLFU: new entries enter a small
*window* (1 % of the capacity); when it overflows, its oldest entry (the candidate)
competes with the oldest entry of the *probation* segment (the victim) and the one with
the higher estimated frequency stays. Probation hits are promoted to the *protected*
segment (80 % of the main space), whose overflow is demoted back to probation. With the
``lru`` policy every entry lives in the protected segment, which is then a plain LRU list.

Frequencies come from a :class:`FrequencySketch` that remembers keys long after they were
evicted. A sketch update costs more in Python than the rest of a hit, so the sketch is
touched only when a key enters (its count is incremented and read into the entry's
``freq``) and when an entry with hits leaves (its ``freq`` goes back into the sketch). In
between, hits bump ``freq`` (lock-free hits through the store's read buffer, applied by
the next write) and admission contests compare ``freq`` values, each aged by the sketch
halvings (epochs) since it was last brought up to date. A cached key's count
is exact from its insertion on (no count-min collisions), and a hit costs one small-int
increment.

Callers hold the store's lock. Lock-free readers only look entries up and append to the
read buffer; still, a writer takes a segment's oldest key with ``for key in segment:
break``, which no thread switch can split, rather than ``next(iter(segment))``, which
would raise "OrderedDict mutated during iteration" if a reorder fell between its calls
(a third-party subclass reading lock-free could still reorder). And an entry moving
between segments is inserted into its target before it is deleted from its source, so a
lock-free reader looking in every segment cannot overlook it.
"""

from __future__ import annotations

from collections import OrderedDict

from hitbox_memory._entry import Entry
from hitbox_memory._sketch import FrequencySketch

__all__ = ["Segment", "SegmentPolicy"]

Segment = OrderedDict[str, Entry]


class SegmentPolicy:
    """The segment moves of :class:`hitbox_memory._store.BoundedStore`.

    A base class holding no state of its own: the attributes below are the store's. The
    admission contest itself runs inline in :meth:`BoundedStore.set_sync`, the only
    place that evicts.
    """

    _window: Segment
    _probation: Segment
    _protected: Segment
    _window_target: int
    _protected_target: int
    _max_entries: int | None
    _entry_bound: int
    _byte_bound: int
    _count: int
    _weight: int
    _sketch: FrequencySketch | None
    _sketch_limit: int
    _epoch: int
    evictions: int

    def _retarget(self, capacity: int) -> None:
        """Size the window (1 %) and protected (80 % of the rest) segments for ``capacity``."""
        self._window_target = max(1, capacity // 100)
        self._protected_target = max(1, (capacity - self._window_target) * 4 // 5)

    def _promote(self, key: str, entry: Entry) -> None:
        """Move a probation entry that was hit to the protected segment."""
        protected, probation = self._protected, self._probation
        protected[key] = entry  # before deleting it from probation (lock-free readers)
        del probation[key]
        if self._max_entries is None:
            self._retarget(self._count)
        while len(protected) > self._protected_target:
            for demoted in protected:  # noqa: B007 - the oldest (see the module docstring)
                break
            probation[demoted] = protected[demoted]
            del protected[demoted]

    def _spill_window(self) -> None:
        """Move the window's overflow to probation (no contest: the store has room)."""
        window, probation = self._window, self._probation
        while len(window) > self._window_target:
            for moved in window:  # noqa: B007 - the oldest (see the module docstring)
                break
            probation[moved] = window[moved]
            del window[moved]

    def _aged(self, entry: Entry) -> int:
        """The entry's frequency, halved once per sketch halving since it was updated."""
        return entry.freq >> (self._epoch - entry.epoch)

    def _remember(self, key: str, entry: Entry) -> None:
        """Leave a leaving entry's frequency in the sketch, if it has more than one access."""
        assert self._sketch is not None
        freq = entry.freq >> (self._epoch - entry.epoch)
        if freq > 1:
            self._sketch.raise_to(key, freq)
            self._epoch = self._sketch.resets

    def _grow_sketch(self) -> None:
        """Size the sketch for twice the entries held (a store bounded by bytes only)."""
        assert self._sketch is not None
        self._sketch.ensure_capacity(self._count * 2)
        self._sketch_limit = self._sketch.capacity
        self._epoch = self._sketch.resets
