"""Which entries stay: LRU order, W-TinyLFU's frequency filter and scan resistance."""

from __future__ import annotations

import random
from collections.abc import Callable

from hitbox_memory import MemoryBackend

from tests.memory.conftest import value

Make = Callable[..., MemoryBackend]


def test_lru_evicts_the_least_recently_used(make_backend: Make) -> None:
    backend = make_backend(max_entries=3, policy="lru")
    for key in "abc":
        backend.set_sync(key, value(), 60)
    assert backend.get_sync("a") is not None  # a is now the most recent
    backend.set_sync("d", value(), 60)
    assert backend.get_sync("b") is None
    assert [k for k in "acd" if backend.get_sync(k) is not None] == ["a", "c", "d"]
    assert backend.evictions == 1


def _hot_hits_under_scans(backend: MemoryBackend) -> int:
    """Read-through a hot set of 50 keys between scans of 100 one-hit keys; hot hits."""
    hot = [f"hot{index}" for index in range(50)]
    hits = 0
    for round_ in range(100):
        for key in hot:
            if backend.get_sync(key) is None:
                backend.set_sync(key, value(), 600)
            elif round_ >= 50:
                hits += 1
        for index in range(100):
            backend.set_sync(f"scan{round_}-{index}", value(), 600)
    return hits


def test_tinylfu_keeps_frequent_keys_through_scans(make_backend: Make) -> None:
    assert _hot_hits_under_scans(make_backend(max_entries=100)) == 50 * 50


def test_lru_loses_its_hot_set_to_the_same_scans(make_backend: Make) -> None:
    assert _hot_hits_under_scans(make_backend(max_entries=100, policy="lru")) == 0


def test_tinylfu_admits_a_key_that_becomes_popular(make_backend: Make) -> None:
    backend = make_backend(max_entries=100)
    for index in range(100):
        backend.set_sync(f"old{index}", value(), 600)
    # A newcomer requested again and again (missing each time) builds up frequency in the
    # sketch until it beats the coldest resident.
    for _ in range(6):
        if backend.get_sync("newcomer") is None:
            backend.set_sync("newcomer", value(), 600)
        for index in range(3):  # push it out of the window each round
            backend.set_sync(f"filler{_}-{index}", value(), 600)
    assert backend.get_sync("newcomer") is not None


def test_segments_follow_their_targets(make_backend: Make) -> None:
    backend = make_backend(max_entries=1000)
    rng = random.Random(5)
    for _ in range(20_000):
        key = f"k{int(3000 * rng.random() ** 2)}"
        if backend.get_sync(key) is None:
            backend.set_sync(key, value(), 600)
    window, probation, protected = backend.segment_sizes()
    assert window + probation + protected == len(backend) == 1000
    assert window == 10  # 1 % of the capacity
    assert protected <= 792  # 80 % of the main space


def test_frequency_history_ages(make_backend: Make) -> None:
    """Halving lets yesterday's favourites be replaced by today's."""
    backend = make_backend(max_entries=50)
    for _ in range(15):
        for index in range(50):
            if backend.get_sync(f"old{index}") is None:
                backend.set_sync(f"old{index}", value(), 1e6)
    for _ in range(40):
        for index in range(50):
            if backend.get_sync(f"new{index}") is None:
                backend.set_sync(f"new{index}", value(), 1e6)
    survivors = sum(backend.get_sync(f"new{index}") is not None for index in range(50))
    assert survivors >= 40


def test_bytes_bound_evicts_several_entries_for_a_big_one(make_backend: Make) -> None:
    backend = make_backend(max_entries=None, max_bytes=1000)
    for index in range(10):
        backend.set_sync(f"k{index}", value(b"x" * 100), 60)
    assert backend.weight == 1000
    backend.set_sync("big", value(b"y" * 450), 60)
    assert backend.weight <= 1000
    assert len(backend) <= 6


def test_clear_empties_the_store(make_backend: Make) -> None:
    backend = make_backend(max_entries=None, max_bytes=10_000)
    for index in range(50):
        backend.set_sync(f"k{index}", value(b"x"), 60)
    backend.clear()
    assert len(backend) == 0
    assert backend.weight == 0
    assert backend.get_sync("k1") is None
    backend.set_sync("k1", value(), 60)
    assert backend.get_sync("k1") is not None


def test_sketch_grows_with_a_bytes_only_bound(make_backend: Make) -> None:
    backend = make_backend(max_entries=None, max_bytes=10**7)
    for index in range(5000):
        backend.set_sync(f"k{index}", value(b"x"), 60)
    assert backend._sketch is not None
    assert backend._sketch.capacity >= 5000
