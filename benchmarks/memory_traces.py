"""Synthetic access traces for the memory backend's eviction benchmark.

Every trace is a list of key strings (shared objects, so replaying it allocates nothing)
built from a seeded :class:`random.Random`, so runs are repeatable:

* ``zipf(s)`` — independent requests over ``keys`` keys with Zipf(``s``) popularity;
* ``scan_polluted`` — Zipf(0.9) traffic where every 10,000 requests a burst of 5,000
  requests walks a separate range of ``keys`` keys in order, resuming where the last
  burst stopped (a loop: each scan key comes back only after ``keys`` scan requests, far
  beyond any cache here). A third of the traffic is scan: an LRU flushes its hot set,
  a frequency filter should not.
"""

from __future__ import annotations

import itertools
import random

__all__ = ["scan_polluted", "zipf"]


def _zipf_indices(rng: random.Random, keys: int, skew: float, length: int) -> list[int]:
    weights = [1.0 / (rank**skew) for rank in range(1, keys + 1)]
    cumulative = list(itertools.accumulate(weights))
    ranks = rng.choices(range(keys), cum_weights=cumulative, k=length)
    # Popularity rank must not correlate with anything a cache sees (insertion order).
    shuffle = list(range(keys))
    rng.shuffle(shuffle)
    return [shuffle[rank] for rank in ranks]


def zipf(keys: int, skew: float, length: int, seed: int = 1) -> list[str]:
    """``length`` requests over ``keys`` keys with Zipf(``skew``) popularity."""
    names = [f"zipf:{index}" for index in range(keys)]
    rng = random.Random(seed)
    return [names[index] for index in _zipf_indices(rng, keys, skew, length)]


def scan_polluted(
    keys: int, length: int, seed: int = 1, period: int = 10_000, burst: int = 5_000
) -> list[str]:
    """Zipf(0.9) requests with a looping sequential scan burst every ``period`` requests."""
    names = [f"zipf:{index}" for index in range(keys)]
    scan_names = [f"scan:{index}" for index in range(keys)]
    rng = random.Random(seed)
    hot = iter(_zipf_indices(rng, keys, 0.9, length))
    scan = itertools.cycle(scan_names)
    trace: list[str] = []
    while len(trace) < length:
        trace.extend(names[next(hot)] for _ in range(period))
        trace.extend(itertools.islice(scan, burst))
    return trace[:length]
