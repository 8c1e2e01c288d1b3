"""Lock-free hits are recorded in a read buffer and applied to the policy by the next write."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from hitbox.backend import NO_VALUE, FreshReads
from hitbox_memory import MemoryBackend
from hitbox_memory._store import _READ_BUFFER

from tests.memory.conftest import START, value

Make = Callable[..., MemoryBackend]


def kept(data: bytes = b"payload", *, ttl: float = 60.0) -> object:
    """A fresh entry that keeps its decoded value (what the cache writes in object mode)."""
    return dataclasses.replace(value(data, ttl=ttl), value=data.decode())


def test_the_memory_backend_answers_fresh_hits_in_one_call(make_backend: Make) -> None:
    backend = make_backend()
    assert isinstance(backend, FreshReads)
    backend.set_sync("a", kept(b"A"), 60)
    assert backend.fresh_value("a", START) == "A"
    assert backend.fresh_value("a", START + 60) is NO_VALUE  # no longer fresh
    assert backend.fresh_value("b", START) is NO_VALUE


def test_fresh_value_never_outlives_the_backend_ttl(make_backend: Make) -> None:
    backend = make_backend()
    # Fresh for an hour by its own times, but stored for 10 s only.
    backend.set_sync("a", kept(ttl=3600), 10)
    assert backend.fresh_value("a", START + 5) == "payload"
    assert backend.fresh_value("a", START + 11) is NO_VALUE


def test_bytes_mode_always_defers(make_backend: Make) -> None:
    backend = make_backend(mode="bytes")
    backend.set_sync("a", kept(), 60)
    assert backend.get_sync("a") is not None
    assert backend.fresh_value("a", START) is NO_VALUE


def test_hits_reorder_lru_before_the_next_eviction(make_backend: Make) -> None:
    backend = make_backend(max_entries=3, policy="lru")
    for key in "abc":
        backend.set_sync(key, kept(), 60)
    assert backend.fresh_value("a", START) == "payload"  # a is now the most recent
    assert list(backend.reads) == ["a"]  # recorded, not yet applied
    backend.set_sync("d", kept(), 60)
    assert not backend.reads
    assert backend.get_sync("b") is None
    assert [key for key in "acd" if backend.get_sync(key) is not None] == ["a", "c", "d"]


def test_buffered_hits_count_as_frequency(make_backend: Make) -> None:
    backend = make_backend(max_entries=100)
    backend.set_sync("hot", kept(), 60)
    frequency = backend._window["hot"].freq
    for _ in range(5):
        assert backend.fresh_value("hot", START) == "payload"
    assert backend._window["hot"].freq == frequency  # not applied yet
    backend.set_sync("other", kept(), 60)  # applies the hits, then spills "hot" to probation
    found = backend._find("hot")
    assert found is not None
    assert found[0].freq == frequency + 5


def test_the_read_buffer_is_bounded(make_backend: Make) -> None:
    backend = make_backend()
    backend.set_sync("a", kept(), 60)
    for _ in range(_READ_BUFFER * 3):
        backend.get_sync("a")
        backend.fresh_value("a", START)
    assert len(backend.reads) == _READ_BUFFER


def test_hits_on_removed_keys_are_skipped(make_backend: Make) -> None:
    backend = make_backend(max_entries=10)
    backend.set_sync("a", kept(), 60)
    assert backend.fresh_value("a", START) == "payload"
    backend.delete_sync("a")
    backend.set_sync("b", kept(), 60)  # applies the buffer: "a" is gone, nothing breaks
    assert backend.get_sync("a") is None
    backend.clear()
    assert not backend.reads
