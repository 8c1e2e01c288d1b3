"""The frequency sketch and the expiry wheel on their own."""

from __future__ import annotations

import random

from hitbox_memory import MemoryBackend
from hitbox_memory._sketch import FrequencySketch
from hitbox_memory._wheel import ExpiryWheel

from tests.memory.conftest import FakeClock, value


def test_sketch_counts_and_saturates() -> None:
    sketch = FrequencySketch(1000)
    assert sketch.estimate("a") == 0
    assert [sketch.increment("a") for _ in range(20)][:3] == [1, 2, 3]
    assert sketch.estimate("a") == 15


def test_sketch_never_underestimates_between_halvings() -> None:
    sketch = FrequencySketch(1000)
    rng = random.Random(2)
    counts: dict[str, int] = {}
    for _ in range(5000):  # below the 10,000-addition sample: no halving yet
        key = f"k{int(rng.paretovariate(1.0)) % 2000}"
        counts[key] = counts.get(key, 0) + 1
        sketch.increment(key)
    assert sketch.resets == 0
    assert all(sketch.estimate(key) >= min(count, 15) for key, count in counts.items())
    exact = sum(sketch.estimate(key) == min(count, 15) for key, count in counts.items())
    assert exact / len(counts) > 0.9  # collisions are rare at 2 rows of 8x width


def test_sketch_halves_after_its_sample() -> None:
    sketch = FrequencySketch(100)  # sample: 1,000 additions
    for _ in range(8):
        sketch.increment("hot")
    for _ in range(991):  # one other key: additions count even when saturated
        sketch.increment("other")
    assert sketch.resets == 0
    sketch.increment("other")
    assert sketch.resets == 1
    assert sketch.estimate("hot") == 4
    assert sketch.estimate("other") == 7


def test_sketch_raise_to_keeps_the_larger_count() -> None:
    sketch = FrequencySketch(100)
    sketch.increment("a")
    sketch.raise_to("a", 6)
    assert sketch.estimate("a") == 6
    sketch.raise_to("a", 2)
    assert sketch.estimate("a") == 6
    sketch.raise_to("a", 99)
    assert sketch.estimate("a") == 15


def test_sketch_growing_forgets() -> None:
    sketch = FrequencySketch(16)
    sketch.increment("a")
    sketch.ensure_capacity(8)  # smaller: nothing changes
    assert sketch.estimate("a") == 1
    sketch.ensure_capacity(10_000)
    assert sketch.capacity == 10_000
    assert sketch.estimate("a") == 0


def test_wheel_hands_out_only_due_keys_in_time_order() -> None:
    wheel = ExpiryWheel()
    now = 1000.0
    for index in range(100):
        wheel.schedule(f"k{index}", now + 1 + index, now)
    assert wheel.pop_due(now + 0.5, 1000) == []
    due = wheel.pop_due(now + 30, 1000)
    assert {f"k{index}" for index in range(20)} <= set(due)  # expired by now + 21
    assert not set(due) & {f"k{index}" for index in range(30, 100)}
    assert wheel.next_due <= now + 60
    rest = wheel.pop_due(now + 1000, 1000)
    assert sorted(due + rest, key=lambda k: int(k[1:])) == [f"k{i}" for i in range(100)]
    assert len(wheel) == 0


def test_wheel_respects_the_budget_and_discards() -> None:
    wheel = ExpiryWheel()
    buckets = [wheel.schedule(f"k{index}", 10.0, 0.0) for index in range(50)]
    first_bucket = buckets[0]
    assert first_bucket is not None
    first_bucket.discard("k0")
    first = wheel.pop_due(20.0, 8)
    assert len(first) == 8
    assert wheel.next_due == 20.0  # more work is waiting in the bucket being drained
    rest = wheel.pop_due(20.0, 100)
    assert "k0" not in first + rest
    assert len(first) + len(rest) == 49


def test_a_bucket_being_drained_takes_no_more_keys() -> None:
    wheel = ExpiryWheel()
    bucket = wheel.schedule("a", 10.0, 0.0)
    assert bucket is not None
    assert bucket.fits(10.0, 10.0)
    assert wheel.pop_due(100.0, 8) == ["a"]
    assert not bucket.fits(10.0, 10.0)
    assert wheel.file("b", 10.0, 10.0, 0.0) is not bucket  # a new bucket for the same span


def test_sketch_rows_cover_every_counter() -> None:
    sketch = FrequencySketch(16)
    for index in range(20_000):  # the second row's index may be negative: any in range
        sketch.increment(f"k{index}")
    assert all(sketch.estimate(f"k{index}") <= 15 for index in range(100))


def test_the_write_path_counts_like_the_sketch() -> None:
    """``set_sync`` repeats :meth:`FrequencySketch.increment` inline: both must agree."""
    backend = MemoryBackend(max_entries=1000, clock=FakeClock())
    reference = FrequencySketch(1000)
    for _ in range(21):  # 10,500 insertions: past the 10,000 that trigger a halving
        for index in range(500):
            backend.set_sync(f"k{index}", value(), 60)
            reference.increment(f"k{index}")
        for index in range(500):  # dropping an entry gives back no more than it took
            backend.delete_sync(f"k{index}")
    sketch = backend._sketch
    assert sketch is not None
    assert sketch.resets == reference.resets == 1
    assert sketch.additions == reference.additions
    assert sketch.rows == reference.rows
