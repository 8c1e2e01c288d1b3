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
evicted. A sketch update costs more in Python than the rest of a hit, so the sketch is
touched only when a key enters (its count is incremented and read into the entry's
``freq``) and when an entry with hits leaves (its ``freq`` goes back into the sketch). In
between, hits bump ``freq`` and admission contests compare ``freq`` values, each aged by
the sketch halvings (epochs) since it was last brought up to date. A cached key's count
is exact from its insertion on (no count-min collisions), and a hit costs one small-int
increment.

Every method here expects the caller to hold :attr:`BoundedStore.mutex`, except the
lock-free hit path that :class:`hitbox_memory.MemoryBackend` builds on ``_fast`` (the
protected segment) and ``_fast_window`` (the window). Those lock-free readers reorder
segments (``move_to_end``) while a writer runs, so a writer takes a segment's oldest key
with ``for key in segment: break``: no thread switch can fall between creating that
iterator and reading it, whereas ``next(iter(segment))`` has a call in between, and a
reorder there would make ``next`` raise "OrderedDict mutated during iteration".
"""

from __future__ import annotations

import random
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final, Literal

from hitbox_memory._entry import MAX_FREQUENCY, Entry
from hitbox_memory._sketch import FrequencySketch
from hitbox_memory._wheel import ExpiryWheel

__all__ = ["MAX_FREQUENCY", "BoundedStore", "Entry"]

_SWEEP_BUDGET: Final = 8
"""Expired keys examined per write: enough to outpace insertions, small enough to be cheap."""
_ADMIT_FREQUENCY: Final = 6
"""Candidates at least this popular are sometimes admitted anyway (Caffeine's hash-DoS guard)."""
_GIL_ENABLED: Final = bool(getattr(sys, "_is_gil_enabled", lambda: True)())
_new_float: Final = float.__new__

Segment = OrderedDict[str, "Entry"]


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
        self._entry_bound = sys.maxsize if max_entries is None else max_entries
        self._byte_bound = sys.maxsize if max_bytes is None else max_bytes
        self._clock = clock
        self._tinylfu = policy == "tinylfu"
        self._window: Segment = OrderedDict()
        self._probation: Segment = OrderedDict()
        self._protected: Segment = OrderedDict()
        # Reads skip the lock only where the GIL makes single dict operations atomic.
        self._lock_free_reads = _GIL_ENABLED
        self._single_segment = not self._tinylfu
        self._fast: Segment = self._protected if _GIL_ENABLED else OrderedDict()
        self._fast_window: Segment = self._window if _GIL_ENABLED else OrderedDict()
        self._fast_holds_all = self._single_segment and _GIL_ENABLED
        """Whether ``_fast`` holds every entry (``lru``), so a key not in it is a sure miss."""
        self._sketch = FrequencySketch(max_entries or 1024) if self._tinylfu else None
        self._epoch = 0
        self._wheel = ExpiryWheel()
        self._count = 0
        self._weight = 0
        self._window_target = 1
        self._protected_target = 1
        self._retarget(max_entries or 0)
        self.mutex = threading.Lock()
        """Guards every mutation; the lock-free hit path only reads and reorders."""
        self.evictions = 0
        """Entries dropped to stay within bounds."""
        self.expirations = 0
        """Entries dropped because their TTL passed."""

    def _retarget(self, capacity: int) -> None:
        """Size the window (1 %) and protected (80 % of the rest) segments for ``capacity``."""
        self._window_target = max(1, capacity // 100)
        self._protected_target = max(1, (capacity - self._window_target) * 4 // 5)

    # -- lookups ----------------------------------------------------------------------

    def _find(self, key: str) -> tuple[Entry, Segment] | None:
        for segment in (self._protected, self._probation, self._window):
            entry = segment.get(key)
            if entry is not None:
                return entry, segment
        return None

    def lookup_locked(self, key: str, now: float) -> Entry | None:
        """The live entry for ``key``, recording the hit; an expired entry is dropped."""
        found = self._find(key)
        if found is None:
            return None
        entry, segment = found
        if entry <= now:  # the entry is its expiry time
            self._drop(key, entry, segment)
            self.expirations += 1
            return None
        if entry.epoch != self._epoch:
            entry.freq = self._aged(entry)
            entry.epoch = self._epoch
        if entry.freq < MAX_FREQUENCY:
            entry.freq += 1
        if segment is self._probation:
            protected, probation = self._protected, self._probation
            protected[key] = entry
            del probation[key]
            if self._max_entries is None:
                self._retarget(self._count)
            while len(protected) > self._protected_target:
                for demoted in protected:  # noqa: B007 - the oldest (see the module docstring)
                    break
                probation[demoted] = protected[demoted]
                del protected[demoted]
        else:
            segment.move_to_end(key)
        return entry

    # -- writes -----------------------------------------------------------------------

    _plain = True
    """Whether :meth:`set_sync` stores values as given, with no weight (no :meth:`_prepare`)."""

    def _prepare(self, key: str, value: Any) -> tuple[Any, int]:
        """What to store for ``value`` and its weight (a subclass encodes and weighs)."""
        return value, 0

    def set_sync(self, key: str, value: Any, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds; safe from any thread.

        A ``ttl`` of zero or less, or an entry heavier than ``max_bytes``, removes the key.
        Evicts other entries as needed to stay within the bounds before returning.

        This is the whole write path in one frame (taking the lock included): a Python
        call is a sizeable part of a write, and writes happen on every miss.
        """
        stored: Any = value
        weight = 0
        if not self._plain:
            stored, weight = self._prepare(key, value)
        # acquire/release rather than ``with``: a context manager costs twice as much.
        mutex = self.mutex
        mutex.acquire()
        try:
            now = self._clock()
            if ttl <= 0 or weight > self._byte_bound:
                self.remove_locked(key)
                return
            expires_at = now + ttl
            home = self._protected
            old = home.get(key)
            if old is None and self._tinylfu:
                home = self._probation
                old = home.get(key)
                if old is None:
                    home = self._window  # also where a new key goes
                    old = home.get(key)
            # Entry(...) spelled out: a Python-level __new__ frame costs more than the stores.
            entry = _new_float(Entry, expires_at)
            entry.stored = stored
            entry.weight = weight
            wheel = self._wheel
            # The common case: same TTL as the last write, so the bucket of the last write fits.
            same_bucket = (
                wheel.last_start <= expires_at < wheel.last_end
                and expires_at - now >= wheel.last_reach
            )
            if old is not None:
                # An update is an access: the entry keeps its segment and its frequency. The
                # new entry replaces the old one in place (same position in the segment).
                epoch = self._epoch
                freq = old.freq >> (epoch - old.epoch)
                entry.freq = freq + 1 if freq < MAX_FREQUENCY else MAX_FREQUENCY
                entry.epoch = epoch
                bucket = old.bucket
                if same_bucket and bucket is wheel.last_bucket:
                    entry.bucket = bucket  # the key is filed there already
                else:
                    if bucket is not None:  # before filing the new entry: same bucket maybe
                        bucket.discard(key)
                    if same_bucket:
                        entry.bucket = bucket = wheel.last_bucket
                        bucket.add(key)
                    else:
                        entry.bucket = wheel.schedule(key, expires_at, now)
                home[key] = entry
                home.move_to_end(key)
                if weight != old.weight:
                    self._weight += weight - old.weight
                    if self._weight > self._byte_bound:
                        self._evict()
                if now >= wheel.next_due:
                    self._sweep(now)
                return
            sketch = self._sketch
            if sketch is not None:
                entry.freq = sketch.increment(key)
                self._epoch = sketch.resets
            else:
                entry.freq = MAX_FREQUENCY
            entry.epoch = self._epoch
            if same_bucket:
                entry.bucket = bucket = wheel.last_bucket
                bucket.add(key)
            else:
                entry.bucket = wheel.schedule(key, expires_at, now)
            home[key] = entry
            self._count += 1
            self._weight += weight
            if sketch is not None and self._max_entries is None and self._count > sketch.capacity:
                sketch.ensure_capacity(self._count * 2)
                self._epoch = sketch.resets
            if now >= wheel.next_due:
                self._sweep(now)
            if self._count > self._entry_bound or self._weight > self._byte_bound:
                self._evict()
            window = self._window
            if len(window) > self._window_target:
                # Room to spare: the window's overflow joins probation without a contest.
                probation = self._probation
                while len(window) > self._window_target:
                    for moved in window:  # noqa: B007 - the oldest (see the module docstring)
                        break
                    probation[moved] = window[moved]
                    del window[moved]
            return
        finally:
            mutex.release()

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

    def _drop(self, key: str, entry: Entry, segment: Segment) -> None:
        """Remove an entry; a popular one leaves its frequency in the sketch's history."""
        del segment[key]
        self._count -= 1
        self._weight -= entry.weight
        if entry.bucket is not None:
            entry.bucket.discard(key)
            entry.bucket = None
        if entry.freq > 1 and self._sketch is not None:
            freq = entry.freq >> (self._epoch - entry.epoch)
            if freq > 1:
                self._sketch.raise_to(key, freq)
                self._epoch = self._sketch.resets

    def _aged(self, entry: Entry) -> int:
        """The entry's frequency, halved once per sketch halving since it was updated."""
        return entry.freq >> (self._epoch - entry.epoch)

    def _sweep(self, now: float) -> bool:
        """Drop a few expired entries; True if the wheel had due keys."""
        keys = self._wheel.pop_due(now, _SWEEP_BUDGET)
        for key in keys:
            found = self._find(key)
            if found is None:
                continue
            entry, segment = found
            if entry <= now:
                self._drop(key, entry, segment)
                self.expirations += 1
            else:  # the clock went back: file it again
                entry.bucket = self._wheel.schedule(key, entry, now)
        return bool(keys)

    # -- eviction ---------------------------------------------------------------------

    def _evict(self) -> None:
        """Drop entries until both bounds hold (W-TinyLFU's contest, or plain LRU).

        Called only when a bound is exceeded, so the loop tests the bounds after each
        eviction rather than before the first: this runs once per insertion into a full
        cache, where every attribute load shows.
        """
        window, probation, protected = self._window, self._probation, self._protected
        tinylfu = self._tinylfu
        sketch = self._sketch
        while True:
            if self._max_entries is None:
                self._retarget(self._count)
            main = probation or protected
            if tinylfu and main and len(window) > self._window_target:
                # The oldest of each (see the module docstring on iterating segments).
                for candidate, candidate_entry in window.items():  # noqa: B007
                    break
                for victim, victim_entry in main.items():  # noqa: B007
                    break
                epoch = self._epoch
                candidate_frequency = candidate_entry.freq >> (epoch - candidate_entry.epoch)
                victim_frequency = victim_entry.freq >> (epoch - victim_entry.epoch)
                # A popular candidate sometimes wins anyway, so an attacker who pumps a
                # victim's counters cannot keep the main space closed (Caffeine's guard).
                if candidate_frequency > victim_frequency or (
                    candidate_frequency >= _ADMIT_FREQUENCY and random.getrandbits(7) == 0
                ):
                    probation[candidate] = candidate_entry
                    del window[candidate]
                    key, entry = victim, victim_entry
                    del main[victim]
                else:
                    key, entry = candidate, candidate_entry
                    del window[candidate]
            else:
                key, entry = (main or window).popitem(last=False)
            # What _drop does, inlined: this loop runs once per insertion into a full cache.
            # The entry's own ``bucket`` is left as is: nothing reads a dropped entry's.
            self._count -= 1
            self._weight -= entry.weight
            self.evictions += 1
            bucket = entry.bucket
            if bucket is not None:
                bucket.discard(key)
            if entry.freq > 1 and sketch is not None:
                freq = entry.freq >> (self._epoch - entry.epoch)
                if freq > 1:
                    sketch.raise_to(key, freq)
                    self._epoch = sketch.resets
            if self._count <= self._entry_bound and self._weight <= self._byte_bound:
                return

    # -- introspection ----------------------------------------------------------------

    def __len__(self) -> int:
        """Entries held, including expired ones no read or sweep has dropped yet."""
        return self._count

    @property
    def weight(self) -> int:
        """Sum of the weights of the entries held (0 without ``max_bytes`` or a weigher)."""
        return self._weight

    def segment_sizes(self) -> tuple[int, int, int]:
        """Entries in the window, probation and protected segments (for tests)."""
        return len(self._window), len(self._probation), len(self._protected)
