"""Bounds hold after every operation, whatever the sequence (hypothesis state machine)."""

from __future__ import annotations

from typing import Any

import hitbox_memory._store as store_module
from hitbox_memory import MemoryBackend
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.memory.conftest import FakeClock, value

KEYS = st.sampled_from([f"k{index}" for index in range(40)])
PAYLOADS = st.binary(max_size=300)


class BoundedBackend(RuleBasedStateMachine):
    """Random gets, sets, deletes and clock moves against a model of what may be held.

    The model is what the backend *could* return: for each key the last value set and its
    expiry. The backend may have evicted an entry (then it returns None) but may never
    return anything else, nor anything expired, nor exceed a bound.
    """

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.model: dict[str, tuple[bytes, float]] = {}
        self.backend: MemoryBackend

    @initialize(
        max_entries=st.one_of(st.none(), st.integers(1, 30)),
        max_bytes=st.one_of(st.none(), st.integers(1, 2_000)),
        policy=st.sampled_from(["tinylfu", "lru"]),
        mode=st.sampled_from(["object", "bytes"]),
        lock_free=st.booleans(),
    )
    def build(
        self,
        max_entries: int | None,
        max_bytes: int | None,
        policy: Any,
        mode: Any,
        lock_free: bool,
    ) -> None:
        if max_entries is None and max_bytes is None:
            max_entries = 5
        store_module._GIL_ENABLED = lock_free  # type: ignore[misc]
        try:
            self.backend = MemoryBackend(
                max_entries, max_bytes, policy=policy, mode=mode, clock=self.clock
            )
        finally:
            store_module._GIL_ENABLED = True  # type: ignore[misc]
        self.max_entries, self.max_bytes = max_entries, max_bytes

    @rule(key=KEYS, payload=PAYLOADS, ttl=st.floats(-1, 100, allow_nan=False))
    def set(self, key: str, payload: bytes, ttl: float) -> None:
        self.backend.set_sync(key, value(payload, now=self.clock.now), ttl)
        if ttl > 0:
            self.model[key] = (payload, self.clock.now + ttl)
        else:
            self.model.pop(key, None)

    @rule(key=KEYS)
    def get(self, key: str) -> None:
        got = self.backend.get_sync(key)
        if got is None:
            return
        assert key in self.model, f"{key} was never stored or was deleted"
        payload, expires_at = self.model[key]
        assert got.data == payload
        assert self.clock.now < expires_at, "an expired entry was returned"

    @rule(key=KEYS)
    def delete(self, key: str) -> None:
        self.backend.delete_sync(key)
        self.model.pop(key, None)
        assert self.backend.get_sync(key) is None

    @rule(seconds=st.floats(0, 60, allow_nan=False))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule()
    def purge(self) -> None:
        self.backend.purge_expired()
        for key, (_, expires_at) in self.model.items():
            if expires_at <= self.clock.now:
                assert self.backend.get_sync(key) is None

    @invariant()
    def bounds_hold(self) -> None:
        backend = getattr(self, "backend", None)
        if backend is None:
            return
        if self.max_entries is not None:
            assert len(backend) <= self.max_entries
        if self.max_bytes is not None:
            assert 0 <= backend.weight <= self.max_bytes
        assert sum(backend.segment_sizes()) == len(backend)


BoundedBackend.TestCase.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
TestBoundedBackend = BoundedBackend.TestCase


def test_weight_is_the_sum_of_stored_sizes(clock: FakeClock) -> None:
    backend = MemoryBackend(max_entries=None, max_bytes=1000, clock=clock)
    for index in range(30):
        backend.set_sync(f"k{index}", value(b"x" * (index * 7)), 60)
        held = [backend.get_sync(f"k{i}") for i in range(index + 1)]
        assert backend.weight == sum(len(v.data) for v in held if v is not None)
        assert backend.weight <= 1000


def test_entry_heavier_than_max_bytes_is_not_stored(clock: FakeClock) -> None:
    backend = MemoryBackend(max_entries=None, max_bytes=100, clock=clock)
    backend.set_sync("small", value(b"s" * 10), 60)
    backend.set_sync("huge", value(b"h" * 101), 60)
    assert backend.get_sync("huge") is None
    assert backend.get_sync("small") is not None
    backend.set_sync("small", value(b"s" * 500), 60)  # a too-big update removes the key
    assert backend.get_sync("small") is None
    assert backend.weight == 0


def test_custom_weigher(clock: FakeClock) -> None:
    backend = MemoryBackend(
        max_entries=None, max_bytes=10, clock=clock, weigher=lambda key, v: len(v.tags) + 1
    )
    for index in range(20):
        backend.set_sync(f"k{index}", value(), 60)
    assert len(backend) == 10
    assert backend.weight == 10


def test_bytes_bound_counts_the_envelope(clock: FakeClock) -> None:
    backend = MemoryBackend(max_entries=None, max_bytes=10_000, mode="bytes", clock=clock)
    backend.set_sync("k", value(b"x" * 100), 60)
    assert backend.weight > 100  # the header and times are stored too


def test_unbounded_by_bytes_keeps_no_weights(clock: FakeClock) -> None:
    backend = MemoryBackend(max_entries=10, clock=clock)
    backend.set_sync("k", value(b"x" * 1000), 60)
    assert backend.weight == 0
