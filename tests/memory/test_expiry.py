"""TTL: exact on reads (injected clock), and swept without reads."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hitbox_memory import MemoryBackend

from tests.memory.conftest import FakeClock, value

Make = Callable[..., MemoryBackend]


@pytest.mark.parametrize("policy", ["tinylfu", "lru"])
@pytest.mark.parametrize("mode", ["object", "bytes"])
async def test_expiry_is_exact(
    make_backend: Make, clock: FakeClock, policy: str, mode: str
) -> None:
    backend = make_backend(policy=policy, mode=mode)
    await backend.set("k", value(), 10.0)
    clock.advance(10.0 - 1e-6)
    assert await backend.get("k") is not None  # a hit: the lock-free path checks expiry too
    assert await backend.get("k") is not None
    clock.advance(1e-6)
    assert await backend.get("k") is None
    assert len(backend) == 0  # dropped by the read that found it expired


async def test_hot_entry_expires_on_the_lock_free_path(
    make_backend: Make, clock: FakeClock
) -> None:
    backend = make_backend(max_entries=100)
    await backend.set("hot", value(), 5.0)
    await backend.set("next", value(), 5.0)  # pushes "hot" out of the 1-entry window
    for _ in range(5):  # promoted to the protected segment, then served without the lock
        assert await backend.get("hot") is not None
    assert backend.segment_sizes()[2] == 1
    clock.advance(5.0)
    assert await backend.get("hot") is None
    assert backend.get_sync("hot") is None


async def test_overwrite_restarts_the_ttl(make_backend: Make, clock: FakeClock) -> None:
    backend = make_backend()
    await backend.set("k", value(b"1"), 10.0)
    clock.advance(8.0)
    await backend.set("k", value(b"2"), 10.0)
    clock.advance(8.0)
    stored = await backend.get("k")
    assert stored is not None
    assert stored.data == b"2"
    clock.advance(2.0)
    assert await backend.get("k") is None


async def test_overwrite_can_shorten_the_ttl(make_backend: Make, clock: FakeClock) -> None:
    backend = make_backend()
    await backend.set("k", value(), 100.0)
    await backend.set("k", value(), 1.0)
    clock.advance(1.0)
    assert await backend.get("k") is None


@pytest.mark.parametrize("ttl", [0.0, -3.0])
async def test_non_positive_ttl_removes_the_key(make_backend: Make, ttl: float) -> None:
    backend = make_backend()
    await backend.set("k", value(), 60)
    await backend.set("k", value(), ttl)
    assert await backend.get("k") is None
    assert len(backend) == 0


@pytest.mark.parametrize("ttl", [0.05, 1.0, 30.0, 3600.0, 86_400.0 * 30])
def test_sweep_drops_unread_entries_soon_after_expiry(
    make_backend: Make, clock: FakeClock, ttl: float
) -> None:
    backend = make_backend(max_entries=10_000)
    for index in range(500):
        backend.set_sync(f"old{index}", value(), ttl)
    clock.advance(ttl * 1.07 + 0.07)  # buckets are at most 1/16 of the TTL (min 1/16 s) wide
    for index in range(100):  # writes sweep a few due keys each
        backend.set_sync(f"new{index}", value(), 1e6)
    assert len(backend) == 100
    assert backend.expirations == 500


def test_purge_expired_drops_everything_due(make_backend: Make, clock: FakeClock) -> None:
    backend = make_backend(max_entries=10_000)
    for index in range(1000):
        backend.set_sync(f"k{index}", value(), 10.0 + index % 3)
    backend.set_sync("long", value(), 1000.0)
    clock.advance(20.0)
    assert backend.purge_expired() == 1000
    assert len(backend) == 1
    assert backend.get_sync("long") is not None


def test_sweep_leaves_live_entries_alone(make_backend: Make, clock: FakeClock) -> None:
    backend = make_backend(max_entries=10_000)
    for index in range(300):
        backend.set_sync(f"k{index}", value(), 10.0 if index % 2 else 1000.0)
    clock.advance(11.0)
    backend.purge_expired()
    assert len(backend) == 150
    assert all(backend.get_sync(f"k{index}") is not None for index in range(0, 300, 2))


def test_clock_going_back_never_loses_live_entries(make_backend: Make, clock: FakeClock) -> None:
    backend = make_backend()
    backend.set_sync("a", value(), 10.0)
    clock.advance(-100.0)
    backend.set_sync("b", value(), 200.0)
    clock.advance(115.0)
    backend.purge_expired()
    assert backend.get_sync("a") is None
    assert backend.get_sync("b") is not None


async def test_locks_expire_with_the_clock(make_backend: Make, clock: FakeClock) -> None:
    backend = make_backend()
    token = await backend.acquire_lock("k", 5.0)
    assert token
    clock.advance(4.9)
    assert await backend.acquire_lock("k", 5.0) is None
    clock.advance(0.1)
    second = await backend.acquire_lock("k", 5.0)
    assert second
    assert second != token
    await backend.release_lock("k", token)  # the expired owner cannot release the new lease
    assert await backend.acquire_lock("k", 5.0) is None


async def test_expired_locks_do_not_pile_up(make_backend: Make, clock: FakeClock) -> None:
    backend = make_backend()
    for index in range(5000):
        assert await backend.acquire_lock(f"k{index}", 1.0)
        clock.advance(0.01)
    assert len(backend._locks) < 1200


def test_overwritten_entries_are_still_swept(make_backend: Make, clock: FakeClock) -> None:
    backend = make_backend(max_entries=100)
    for _ in range(3):  # same TTL, same timer bucket each time
        for index in range(20):
            backend.set_sync(f"k{index}", value(), 10.0)
        clock.advance(0.01)
    clock.advance(11.0)
    assert backend.purge_expired() == 20
    assert len(backend) == 0


def test_infinite_ttl_never_expires(make_backend: Make, clock: FakeClock) -> None:
    backend = make_backend()
    backend.set_sync("forever", value(), float("inf"))
    backend.set_sync("forever", value(b"again"), float("inf"))
    clock.advance(1e12)
    backend.purge_expired()
    stored = backend.get_sync("forever")
    assert stored is not None
    assert stored.data == b"again"
    backend.delete_sync("forever")
    assert len(backend) == 0


def test_ttl_can_change_between_forever_and_finite(make_backend: Make, clock: FakeClock) -> None:
    backend = make_backend()
    backend.set_sync("k", value(b"1"), float("inf"))
    backend.set_sync("k", value(b"2"), 10.0)  # now it expires, and the wheel knows
    clock.advance(11.0)  # past the end of its bucket
    assert backend.purge_expired() == 1
    assert len(backend) == 0
    backend.set_sync("k", value(b"3"), 10.0)
    backend.set_sync("k", value(b"4"), float("inf"))  # and now it no longer does
    clock.advance(1e9)
    assert backend.purge_expired() == 0
    stored = backend.get_sync("k")
    assert stored is not None
    assert stored.data == b"4"


def test_nan_ttl_removes_the_key(make_backend: Make) -> None:
    backend = make_backend()
    backend.set_sync("k", value(), 60)
    backend.set_sync("k", value(), float("nan"))
    assert backend.get_sync("k") is None
    assert len(backend) == 0


def test_overwrite_within_one_clock_tick_updates_in_place(make_backend: Make) -> None:
    backend = make_backend(max_entries=10)
    for data in (b"1", b"2", b"3"):  # the fake clock stands still: same expiry each time
        backend.set_sync("k", value(data), 60)
    stored = backend.get_sync("k")
    assert stored is not None
    assert stored.data == b"3"
    assert len(backend) == 1
