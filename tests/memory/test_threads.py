"""Many threads and many event loops on one backend: no errors, bounds hold, no lost data."""

from __future__ import annotations

import asyncio
import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Literal

import pytest
from hitbox_memory import MemoryBackend

from tests.memory.conftest import value


def _run_threads(count: int, target: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def guarded(index: int) -> None:
        try:
            target(index)
        except BaseException as exc:  # the test must see worker failures
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


@pytest.mark.parametrize("policy", ["tinylfu", "lru"])
@pytest.mark.parametrize("mode", ["object", "bytes"])
@pytest.mark.parametrize("ttl", [60.0, float("inf")])  # inf: overwrites update in place
def test_threads_hammering_shared_keys(
    policy: Literal["tinylfu", "lru"], mode: Literal["object", "bytes"], ttl: float
) -> None:
    backend = MemoryBackend(max_entries=64, max_bytes=4000, policy=policy, mode=mode)

    def work(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(4000):
            key = f"k{int(rng.paretovariate(1.0)) % 200}"
            action = rng.random()
            if action < 0.6:
                got = backend.get_sync(key)
                # Values are tagged with their key: a hit must never be another key's entry.
                assert got is None or got.data.startswith(key.encode() + b":")
            elif action < 0.95:
                backend.set_sync(key, value(key.encode() + b":" + bytes(rng.randrange(80))), ttl)
            else:
                backend.delete_sync(key)
            assert len(backend) <= 64

    _run_threads(8, work)
    assert len(backend) <= 64
    assert backend.weight <= 4000
    assert sum(backend.segment_sizes()) == len(backend)


def test_no_entry_is_lost_while_others_are_evicted() -> None:
    """Readers never miss a resident key, however much writers move entries around."""
    backend = MemoryBackend(max_entries=1000)
    pinned = [f"pinned{index}" for index in range(50)]
    for _ in range(20):  # make them frequent so W-TinyLFU keeps them
        for key in pinned:
            if backend.get_sync(key) is None:
                backend.set_sync(key, value(key.encode()), 600)
    stop = threading.Event()
    misses: list[str] = []

    def reader(index: int) -> None:
        while not stop.is_set():
            for key in pinned:
                if backend.get_sync(key) is None:
                    misses.append(key)

    def writer(index: int) -> None:
        for step in range(20_000):
            backend.set_sync(f"churn{index}-{step}", value(), 600)
        stop.set()

    _run_threads(4, lambda i: writer(i) if i == 0 else reader(i))
    assert misses == []


def test_event_loops_in_threads_share_one_backend() -> None:
    backend = MemoryBackend(max_entries=500)

    async def session(seed: int) -> int:
        rng = random.Random(seed)
        hits = 0
        for step in range(2000):
            key = f"k{rng.randrange(300)}"
            got = await backend.get(key)
            if got is None:
                await backend.set(key, value(key.encode()), 60)
            else:
                assert got.data == key.encode()
                hits += 1
            if step % 100 == 0:
                await asyncio.sleep(0)
        return hits

    results: list[int] = []
    _run_threads(4, lambda seed: results.append(asyncio.run(session(seed))))
    assert len(results) == 4
    assert sum(results) > 0
    assert len(backend) <= 500


def test_locks_are_exclusive_across_threads() -> None:
    backend = MemoryBackend()
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def contend(index: int) -> None:
        barrier.wait()
        token = asyncio.run(backend.acquire_lock("leader", 30))
        if token is not None:
            winners.append(token)

    _run_threads(8, contend)
    assert len(winners) == 1


class _ForbiddenLock:
    """A mutex stand-in that fails the test if anything tries to take it."""

    def acquire(self) -> bool:
        raise AssertionError("the hit path took the lock")

    def release(self) -> None:
        raise AssertionError("the hit path took the lock")


@pytest.mark.parametrize("policy", ["tinylfu", "lru"])
async def test_hits_in_the_window_take_no_lock(policy: Literal["tinylfu", "lru"]) -> None:
    """A lone hot key stays in W-TinyLFU's window; its hits must stay lock-free too."""
    backend = MemoryBackend(max_entries=10_000, policy=policy)
    backend.set_sync("hot", value(b"hot"), 600)
    if policy == "tinylfu":
        assert backend.segment_sizes() == (1, 0, 0)  # still in the window
    mutex = backend.mutex
    backend.mutex = _ForbiddenLock()  # type: ignore[assignment]
    try:
        for _ in range(3):
            got = backend.get_sync("hot")
            assert got is not None
            assert got.data == b"hot"
            got = await backend.get("hot")
            assert got is not None
            assert got.data == b"hot"
        assert backend.get_sync("absent") is None  # a sure miss is lock-free as well
    finally:
        backend.mutex = mutex
    assert backend.get_sync("hot") is not None


class _VanishingSegment(OrderedDict[str, Any]):
    """A segment whose every key is gone by the time the reader looks it up."""

    def __contains__(self, key: object) -> bool:
        return True


async def test_an_entry_moved_between_test_and_lookup_is_read_under_the_lock() -> None:
    """The lock-free path tests a segment with ``in``, then looks up: another thread may
    move the entry in between. The reader must then find it under the lock, not miss."""
    backend = MemoryBackend(max_entries=100)
    backend.set_sync("moved", value(b"moved"), 600)
    backend._fast = _VanishingSegment()
    got = backend.get_sync("moved")
    assert got is not None
    assert got.data == b"moved"
    got = await backend.get("moved")
    assert got is not None
    assert got.data == b"moved"
    assert backend.get_sync("absent") is None
