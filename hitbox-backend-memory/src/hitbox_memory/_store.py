"""The bounded map behind the memory backend: segments, eviction, expiry and capacity.

Entries live in three LRU-ordered segments (:class:`collections.OrderedDict`, so reordering
runs in C). With the ``tinylfu`` policy they form W-TinyLFU as in Caffeine: new entries
enter a small *window* (1 % of the capacity); when it overflows, its oldest entry (the
candidate) competes with the oldest entry of the *probation* segment (the victim) and the
one with the higher estimated frequency stays. Probation hits are promoted to the
*protected* segment (80 % of the main space), whose overflow is demoted back to probation.
With the ``lru`` policy every entry lives in the protected segment, which is then a plain
LRU list.

Frequencies come from a :class:`FrequencySketch` that remembers keys long after they were
evicted. Counting every hit in the sketch would cost more than the rest of a hit, so a hit
on a protected entry only bumps the entry's own counter (``hits``); those pending hits are
folded into the sketch when the entry leaves the store, and aged by the sketch's halving
epoch in between. Insertions, evictions and admission decisions use the sketch directly.

Every method here expects the caller to hold :attr:`BoundedStore.mutex`, except the
lock-free hit path that :class:`hitbox_memory.MemoryBackend` builds on ``_fast``.
"""

from __future__ import annotations

import random
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final, Literal, final

from hitbox_memory._sketch import FrequencySketch
from hitbox_memory._wheel import Bucket, ExpiryWheel

__all__ = ["BoundedStore", "Entry"]

MAX_HITS: Final = 15
"""Pending hits an entry counts before saturating (the sketch's counters stop there too)."""
_SWEEP_BUDGET: Final = 8
"""Expired keys examined per write: enough to outpace insertions, small enough to be cheap."""
_ADMIT_FREQUENCY: Final = 6
"""Candidates at least this popular are sometimes admitted anyway (Caffeine's hash-DoS guard)."""
_GIL_ENABLED: Final = bool(getattr(sys, "_is_gil_enabled", lambda: True)())

Segment = OrderedDict[str, "Entry"]


@final
class Entry:
    """One stored entry and its bookkeeping (slotted: a million of them must stay small)."""

    __slots__ = ("bucket", "epoch", "expires_at", "hits", "stored", "weight")

    def __init__(self, stored: Any, expires_at: float, weight: int, epoch: int) -> None:
        self.stored = stored
        """The :class:`hitbox.CachedValue` (object mode) or its envelope bytes."""
        self.expires_at = expires_at
        """Unix time from which the entry is never returned."""
        self.weight = weight
        """What the entry counts against ``max_bytes``."""
        self.epoch = epoch
        """The sketch epoch ``hits`` were counted in."""
        self.hits = 0
        """Hits not yet folded into the sketch."""
        self.bucket: Bucket | None = None
        """The expiry wheel bucket holding the key."""


class BoundedStore:
    """A map from keys to :class:`Entry` that stays within its entry and weight bounds."""

    def __init__(
        self,
        *,
        max_entries: int | None,
        max_bytes: int | None,
        policy: Literal["tinylfu", "lru"],
        clock: Callable[[], float],
    ) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._clock = clock
        self._tinylfu = policy == "tinylfu"
        self._window: Segment = OrderedDict()
        self._probation: Segment = OrderedDict()
        self._protected: Segment = OrderedDict()
        # Reads skip the lock only where the GIL makes single dict operations atomic.
        self._fast: Segment = self._protected if _GIL_ENABLED else OrderedDict()
        self._sketch = FrequencySketch(max_entries or 1024) if self._tinylfu else None
        self._epoch = 0
        self._wheel = ExpiryWheel()
        self._count = 0
        self._weight = 0
        self.mutex = threading.Lock()
        """Guards every mutation; the lock-free hit path only reads and reorders."""
        self.evictions = 0
        """Entries dropped to stay within bounds."""
        self.expirations = 0
        """Entries dropped because their TTL passed."""

    # -- lookups ----------------------------------------------------------------------

    def _find(self, key: str) -> tuple[Entry, Segment] | None:
        for segment in (self._protected, self._probation, self._window):
            entry = segment.get(key)
            if entry is not None:
                return entry, segment
        return None

    def lookup_locked(self, key: str, now: float) -> Entry | None:
        """The live entry for ``key``, recording the hit; expired entries are dropped."""
        found = self._find(key)
        if found is None:
            return None
        entry, segment = found
        if entry.expires_at <= now:
            self._drop(key, entry, segment)
            self.expirations += 1
            return None
        self._age(entry)
        if entry.hits < MAX_HITS:
            entry.hits += 1
        if segment is self._probation:
            del segment[key]
            self._protected[key] = entry
            self._demote_overflow()
        else:
            segment.move_to_end(key)
        return entry

    # -- writes -----------------------------------------------------------------------

    def put_locked(self, key: str, stored: Any, weight: int, expires_at: float, now: float) -> bool:
        """Store an entry, evicting others to stay in bounds; False if it can never fit."""
        found = self._find(key)
        hits = 0
        home = self._window if self._tinylfu else self._protected
        if found is not None:
            old, home = found
            hits = self._pending(old)
            self._unlink(key, old, home)
        if self._max_bytes is not None and weight > self._max_bytes:
            if found is not None:
                self._fold(key, hits)
            self._sweep(now)
            return False
        entry = Entry(stored, expires_at, weight, self._epoch)
        entry.hits = hits
        entry.bucket = self._wheel.schedule(key, expires_at, now)
        home[key] = entry
        self._count += 1
        self._weight += weight
        sketch = self._sketch
        if sketch is not None:
            if sketch.increment(key):
                self._epoch += 1
            if self._max_entries is None and self._count > sketch.capacity:
                sketch.ensure_capacity(self._count * 2)
        self._sweep(now)
        self._evict_to_bounds()
        if self._tinylfu:
            self._overflow_window()
        return True

    def remove_locked(self, key: str) -> bool:
        """Drop the entry under ``key``; False if there was none."""
        found = self._find(key)
        if found is None:
            return False
        self._drop(key, *found)
        return True

    def clear_locked(self) -> None:
        """Drop every entry (frequency history is kept)."""
        for segment in (self._window, self._probation, self._protected):
            segment.clear()
        self._wheel.clear()
        self._count = 0
        self._weight = 0

    def purge_expired_locked(self, now: float) -> int:
        """Drop every entry whose expiry bucket has passed; returns how many."""
        before = self.expirations
        while self._sweep(now):
            pass
        return self.expirations - before

    # -- bookkeeping ------------------------------------------------------------------

    def _unlink(self, key: str, entry: Entry, segment: Segment) -> None:
        del segment[key]
        self._count -= 1
        self._weight -= entry.weight
        if entry.bucket is not None:
            entry.bucket.discard(key)
            entry.bucket = None

    def _drop(self, key: str, entry: Entry, segment: Segment) -> None:
        self._unlink(key, entry, segment)
        self._fold(key, self._pending(entry))

    def _fold(self, key: str, hits: int) -> None:
        """Keep a departing entry's hits in the sketch's history."""
        if hits and self._sketch is not None and self._sketch.increment(key, hits):
            self._epoch += 1

    def _pending(self, entry: Entry) -> int:
        age = self._epoch - entry.epoch
        return entry.hits >> age if age < 8 else 0

    def _age(self, entry: Entry) -> None:
        if entry.epoch != self._epoch:
            entry.hits = self._pending(entry)
            entry.epoch = self._epoch

    def _frequency(self, key: str, entry: Entry) -> int:
        assert self._sketch is not None
        return self._sketch.estimate(key) + self._pending(entry)

    def _sweep(self, now: float) -> bool:
        """Drop a few expired entries; True if the wheel had due keys."""
        keys = self._wheel.pop_due(now, _SWEEP_BUDGET)
        for key in keys:
            found = self._find(key)
            if found is None:
                continue
            entry, segment = found
            if entry.expires_at <= now:
                self._drop(key, entry, segment)
                self.expirations += 1
            else:  # the clock went back: file it again
                entry.bucket = self._wheel.schedule(key, entry.expires_at, now)
        return bool(keys)

    # -- eviction ---------------------------------------------------------------------

    def _over_bounds(self) -> bool:
        return (self._max_entries is not None and self._count > self._max_entries) or (
            self._max_bytes is not None and self._weight > self._max_bytes
        )

    def _capacity(self) -> int:
        return self._max_entries if self._max_entries is not None else self._count

    def _evict_to_bounds(self) -> None:
        while self._over_bounds():
            self._evict_one()
            self.evictions += 1

    def _evict_one(self) -> None:
        window, probation, protected = self._window, self._probation, self._protected
        main = probation or protected
        if self._tinylfu and main and len(window) > max(1, self._capacity() // 100):
            candidate = next(iter(window))
            victim = next(iter(main))
            candidate_entry, victim_entry = window[candidate], main[victim]
            if self._admit(candidate, candidate_entry, victim, victim_entry):
                del window[candidate]
                probation[candidate] = candidate_entry
                self._drop(victim, victim_entry, main)
            else:
                self._drop(candidate, candidate_entry, window)
            return
        segment = main or window
        key = next(iter(segment))
        self._drop(key, segment[key], segment)

    def _admit(
        self, candidate: str, candidate_entry: Entry, victim: str, victim_entry: Entry
    ) -> bool:
        candidate_frequency = self._frequency(candidate, candidate_entry)
        victim_frequency = self._frequency(victim, victim_entry)
        if candidate_frequency > victim_frequency:
            return True
        # A popular candidate occasionally wins a tie or a loss, so an attacker who pumps
        # a victim's counters cannot keep the main space closed forever.
        return candidate_frequency >= _ADMIT_FREQUENCY and random.getrandbits(7) == 0

    def _overflow_window(self) -> None:
        """Move window overflow into probation while there is room (no eviction needed)."""
        window, probation = self._window, self._probation
        target = max(1, self._capacity() // 100)
        while len(window) > target:
            key, entry = window.popitem(last=False)
            probation[key] = entry

    def _demote_overflow(self) -> None:
        capacity = self._capacity()
        target = max(1, (capacity - max(1, capacity // 100)) * 4 // 5)
        protected, probation = self._protected, self._probation
        while len(protected) > target:
            key, entry = protected.popitem(last=False)
            probation[key] = entry

    # -- introspection ----------------------------------------------------------------

    def __len__(self) -> int:
        """Entries held, including expired ones no read or sweep has dropped yet."""
        return self._count

    @property
    def weight(self) -> int:
        """Sum of the weights of the entries held (payload bytes by default)."""
        return self._weight

    def segment_sizes(self) -> tuple[int, int, int]:
        """Entries in the window, probation and protected segments (for tests)."""
        return len(self._window), len(self._probation), len(self._protected)
