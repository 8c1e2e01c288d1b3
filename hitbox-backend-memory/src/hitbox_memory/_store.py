"""The bounded map behind the memory backend: lookups, writes and expiry.

Entries live in the segments of :class:`hitbox_memory._policy.SegmentPolicy` (its module
says how W-TinyLFU moves and evicts them); this class adds the ways in and out: lookups
that record hits, writes (the whole write path, eviction included, in
:meth:`BoundedStore.set_sync`), removal, and expiry through an :class:`ExpiryWheel` swept
a few keys per write with a TTL.

Every method here expects the caller to hold :attr:`BoundedStore.mutex`, except
:meth:`BoundedStore.set_sync`, which takes it, and the lock-free hit path that
:class:`hitbox_memory.MemoryBackend` builds on ``_fast`` (the protected segment),
``_fast_window`` (the window) and, to rule a key out, ``_miss_probation`` and
``_miss_protected``.
"""

from __future__ import annotations

import math
import random
import sys
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Container
from typing import Any, Final, Literal, final

from hitbox_memory._entry import MAX_FREQUENCY, Entry
from hitbox_memory._policy import Segment, SegmentPolicy
from hitbox_memory._sketch import FrequencySketch
from hitbox_memory._wheel import ExpiryWheel

__all__ = ["MAX_FREQUENCY", "BoundedStore", "Entry"]

_SWEEP_BUDGET: Final = 8
"""Expired keys examined per write: enough to outpace insertions, small enough to be cheap."""
_ADMIT_FREQUENCY: Final = 6
"""Candidates at least this popular are sometimes admitted anyway (Caffeine's hash-DoS guard)."""
_FOREVER: Final = math.inf
"""The TTL of an entry that never expires."""
_GIL_ENABLED: Final = bool(getattr(sys, "_is_gil_enabled", lambda: True)())
_READ_BUFFER: Final = 512
"""Lock-free hits remembered until the next write applies them (older ones are dropped)."""


@final
class _EveryKey:
    """A container that holds every key: the miss check of a build without the GIL."""

    __slots__ = ()

    def __contains__(self, key: object) -> bool:
        return True


_EVERY_KEY: Final = _EveryKey()


class BoundedStore(SegmentPolicy):
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
        # Elsewhere the lock-free path sees no entry and rules out no key, so every read
        # takes the lock.
        self._fast: Segment = self._protected if _GIL_ENABLED else OrderedDict()
        self._fast_window: Segment = self._window if _GIL_ENABLED else OrderedDict()
        self._miss_probation: Container[str] = self._probation if _GIL_ENABLED else _EVERY_KEY
        self._miss_protected: Container[str] = self._protected if _GIL_ENABLED else _EVERY_KEY
        if _GIL_ENABLED and not self._tinylfu:  # lru: entries never move, no second look
            self._miss_protected = frozenset()
        self._sketch = FrequencySketch(max_entries or 1024) if self._tinylfu else None
        self._sketch_limit = sys.maxsize
        """The entry count above which the sketch must grow (only without ``max_entries``)."""
        if self._sketch is not None and max_entries is None:
            self._sketch_limit = self._sketch.capacity
        self._epoch = 0
        self._wheel = ExpiryWheel()
        self._count = 0
        self._weight = 0
        self._window_target = 1
        self._protected_target = 1
        self._retarget(max_entries or 0)
        self.mutex = threading.Lock()
        """Guards every mutation; the lock-free hit path only reads and records."""
        self.reads: deque[str] = deque(maxlen=_READ_BUFFER)
        """Keys of lock-free hits not yet applied to the policy (:meth:`apply_reads_locked`)."""
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
        """The live entry for ``key``, recording the hit; an expired entry is dropped."""
        found = self._find(key)
        if found is None:
            return None
        entry, segment = found
        if entry <= now:
            self._drop(key, entry, segment)
            self.expirations += 1
            return None
        if entry.epoch != self._epoch:
            entry.freq = self._aged(entry)
            entry.epoch = self._epoch
        if entry.freq < MAX_FREQUENCY:
            entry.freq += 1
        if segment is self._probation:
            self._promote(key, entry)
        else:
            segment.move_to_end(key)
        return entry

    def apply_reads_locked(self) -> None:
        """Apply the lock-free hits recorded in :attr:`reads` to the policy, oldest first.

        A lock-free hit only appends its key (one C call); the reorder and the frequency
        bump it stands for happen here, under the lock, before a write can evict (as
        Caffeine's read buffer does). The buffer is bounded: between two writes only the
        last ``_READ_BUFFER`` hits count, which changes nothing a policy decides until a
        hit ratio above 99.8 %. A key that left the window and protected segments since
        its hit (evicted, deleted) is skipped.
        """
        reads = self.reads
        if not reads:
            return
        protected, window, epoch = self._protected, self._window, self._epoch
        pop = reads.popleft
        for _ in range(len(reads)):
            try:
                key = pop()
            except IndexError:  # a full buffer dropped its oldest under a concurrent append
                return
            segment = protected
            entry = protected.get(key)
            if entry is None:
                segment = window
                entry = window.get(key)
                if entry is None:
                    continue
            freq = entry.freq
            if entry.epoch != epoch:
                freq >>= epoch - entry.epoch
                entry.epoch = epoch
            if freq < MAX_FREQUENCY:
                freq += 1
            entry.freq = freq
            segment.move_to_end(key)

    # -- writes -----------------------------------------------------------------------

    _plain = True
    """Whether :meth:`set_sync` stores values as given, with no weight (no :meth:`_prepare`)."""

    def _prepare(self, key: str, value: Any) -> tuple[Any, int]:
        """What to store for ``value`` and its weight (a subclass encodes and weighs)."""
        return value, 0

    def set_sync(self, key: str, value: Any, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds; safe from any thread.

        A ``ttl`` of zero or less (or NaN), or an entry heavier than ``max_bytes``, removes
        the key; ``math.inf`` stores it for good. Evicts other entries as needed to stay
        within the bounds before returning.

        The write path runs in this one frame (taking the lock, the sketch update and the
        eviction an insertion into a full store makes included): a Python call is a
        sizeable part of a write, and writes happen on every miss. A write without expiry
        (``math.inf``) reads no clock and files nothing in the timer wheel; writes with a
        TTL sweep a few due keys.
        """
        stored: Any = value
        weight = 0
        if not self._plain:
            stored, weight = self._prepare(key, value)
        # acquire/release rather than ``with``: a context manager costs twice as much.
        mutex = self.mutex
        mutex.acquire()
        try:
            if self.reads:
                self.apply_reads_locked()
            if ttl < _FOREVER:
                now = self._clock()
                if ttl <= 0 or weight > self._byte_bound:
                    self.remove_locked(key)
                    return
                expires_at = now + ttl
            elif ttl == _FOREVER and weight <= self._byte_bound:
                # No expiry: no clock, no timer wheel, and (``now`` before any due time)
                # no sweep, the work of an untimed cache.
                now, expires_at = -_FOREVER, _FOREVER
            else:  # NaN, or too heavy
                self.remove_locked(key)
                return
            # ``in`` first: a miss, which every new key has in each segment, costs a third
            # of a ``.get`` call. (An lru store's window and probation are empty.)
            if key in self._protected:
                home: Segment | None = self._protected
            elif key in self._probation:
                home = self._probation
            elif key in self._window:
                home = self._window
            else:
                home = None
            if home is not None:
                # An update is an access: the key keeps its segment and its frequency.
                entry = home[key]
                epoch = self._epoch
                freq = entry.freq >> (epoch - entry.epoch)
                if freq < MAX_FREQUENCY:
                    freq += 1
                if entry == expires_at:  # the same expiry (no TTL, say): update in place
                    entry.stored = stored
                    entry.freq = freq
                    entry.epoch = epoch
                else:  # a new entry in the old one's place (see Entry)
                    old = entry
                    entry = Entry(expires_at)
                    entry.stored = stored
                    entry.weight = old.weight
                    entry.bucket = old.bucket
                    entry.freq = freq
                    entry.epoch = epoch
                    home[key] = entry
                home.move_to_end(key)
                if expires_at < _FOREVER:
                    filed = entry.bucket
                    # The common case: the new expiry falls in the key's bucket.
                    if filed is None or not (
                        filed.start <= expires_at < filed.end and ttl >= filed.reach
                    ):
                        if filed is not None:
                            filed.discard(key)
                        entry.bucket = self._wheel.file(key, expires_at, ttl, now)
                    if now >= self._wheel.next_due:
                        self._sweep(now)
                elif entry.bucket is not None:  # it expired, now it never does
                    entry.bucket.discard(key)
                    entry.bucket = None
                if weight == entry.weight:
                    return
                self._weight += weight - entry.weight
                entry.weight = weight
                if self._weight <= self._byte_bound:
                    return
            else:
                # A new key: W-TinyLFU admits it to the window, lru to its one segment.
                entry = Entry(expires_at)  # every slot is set before the entry is published
                entry.stored = stored
                entry.weight = weight
                if expires_at < _FOREVER:
                    wheel = self._wheel
                    bucket = wheel.last_bucket
                    if bucket.start <= expires_at < bucket.end and ttl >= bucket.reach:
                        bucket.add(key)  # the common case: the same TTL as the last write
                        entry.bucket = bucket
                    else:
                        entry.bucket = wheel.schedule(key, expires_at, now)
                    if now >= wheel.next_due:
                        self._sweep(now)
                else:
                    entry.bucket = None
                sketch = self._sketch
                if sketch is None:
                    entry.freq = MAX_FREQUENCY
                    entry.epoch = self._epoch
                    self._protected[key] = entry
                else:
                    # FrequencySketch.increment, inlined: the call and its attribute loads
                    # would be a tenth of an insertion. test_parts checks they agree.
                    h = hash(key)
                    row0, row1 = sketch.rows
                    i0, i1 = h & sketch.mask, h >> sketch.shift
                    c0, c1 = row0[i0], row1[i1]
                    freq = c0 if c0 < c1 else c1
                    if freq < MAX_FREQUENCY:
                        freq += 1
                        if c0 < freq:
                            row0[i0] = freq
                        if c1 < freq:
                            row1[i1] = freq
                    additions = sketch.additions = sketch.additions + 1
                    if additions >= sketch.sample:
                        sketch.halve()
                        freq >>= 1
                    entry.freq = freq
                    entry.epoch = self._epoch = sketch.resets
                    self._window[key] = entry
                count = self._count = self._count + 1
                if weight:
                    self._weight += weight
                if count > self._sketch_limit:
                    self._grow_sketch()
                if count <= self._entry_bound and self._weight <= self._byte_bound:
                    if len(self._window) > self._window_target:
                        self._spill_window()
                    return
            # Over a bound: evict until both hold. An insertion into a full store evicts
            # exactly one entry, here rather than in a method: a call is a tenth of it.
            if self._max_entries is None:
                self._retarget(self._count)
            window, probation = self._window, self._probation
            while True:
                main = probation or self._protected
                # An lru store's window is always empty: it always pops its LRU entry.
                if len(window) > self._window_target and main:
                    # W-TinyLFU's contest between the oldest of each (see SegmentPolicy on
                    # iterating segments); a key, then its entry: half the cost of items().
                    for candidate in window:  # noqa: B007
                        break
                    candidate_entry = window[candidate]
                    for victim in main:  # noqa: B007
                        break
                    victim_entry = main[victim]
                    epoch = self._epoch
                    candidate_frequency = candidate_entry.freq >> (epoch - candidate_entry.epoch)
                    # A popular candidate sometimes wins anyway, so an attacker who pumps a
                    # victim's counters cannot keep the main space closed (Caffeine's guard).
                    if candidate_frequency > victim_entry.freq >> (epoch - victim_entry.epoch) or (
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
                # What _drop does, inlined. The entry's own ``bucket`` is left as is:
                # nothing reads a dropped entry's.
                self._count -= 1
                if entry.weight:
                    self._weight -= entry.weight
                self.evictions += 1
                if entry.bucket is not None:
                    entry.bucket.discard(key)
                if entry.freq > 1 and self._sketch is not None:
                    self._remember(key, entry)
                if self._count <= self._entry_bound and self._weight <= self._byte_bound:
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
        self.reads.clear()
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
            self._remember(key, entry)

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
