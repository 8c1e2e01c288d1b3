"""The tiered backend on its own: read order, refills, writes, failures, capabilities.

In-process tiers and a hand-moved clock; the cross-instance behaviour is in
``test_tiered_bus.py`` and the real-Redis behaviour in ``test_tiered_redis.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import hitbox
import pytest
from hitbox import BackendError, BatchBackend, CachedValue, Healthcheck, LockingBackend
from hitbox.testing import BackendConformance
from hitbox.tiered import TieredBackend
from hitbox_memory import MemoryBackend

from tests.integration.conftest import BusHub, PlainBackend, SharedTier, Ticker, entry


def memory(ticker: Ticker, size: int = 1000) -> MemoryBackend:
    return MemoryBackend(max_entries=size, clock=ticker)


def shared(ticker: Ticker) -> SharedTier:
    return SharedTier(memory(ticker), BusHub(), "solo")


class TestTieredConformance(BackendConformance):
    """The conformance kit on memory + plain (no capabilities) and memory + memory."""

    @pytest.fixture(params=["memory+plain", "memory+memory+memory"])
    async def backend(self, request: pytest.FixtureRequest) -> AsyncIterator[TieredBackend]:
        self.ticker = Ticker()
        lower = [PlainBackend(self.ticker)]
        if request.param != "memory+plain":
            lower = [memory(self.ticker), memory(self.ticker)]
        backend = TieredBackend([memory(self.ticker), *lower], clock=self.ticker)
        yield backend
        await backend.aclose()

    async def advance_time(self, seconds: float) -> None:
        self.ticker.advance(seconds)


async def test_l1_hit_does_not_read_lower_tiers(ticker: Ticker) -> None:
    l2 = shared(ticker)
    backend = TieredBackend([memory(ticker), l2], bus=None, clock=ticker)
    await backend.set("k", entry(b"v"), 60)
    l2.calls.clear()
    stored = await backend.get("k")
    assert stored is not None
    assert stored.data == b"v"
    assert l2.calls == []
    assert backend.stats().hits == (1, 0)


async def test_lower_hit_refills_upper_tiers_with_remaining_lifetime(ticker: Ticker) -> None:
    l1, l2, l3 = memory(ticker), memory(ticker), memory(ticker)
    backend = TieredBackend([l1, l2, l3], clock=ticker)
    await l3.set("k", entry(b"deep", ttl=60), 60)
    ticker.advance(45)  # 15 seconds of life left
    stored = await backend.get("k")
    assert stored is not None
    assert stored.data == b"deep"
    assert (await l1.get("k")) == stored
    assert (await l2.get("k")) == stored
    assert backend.stats().hits == (0, 0, 1)
    assert backend.stats().refills == 2
    ticker.advance(14)
    assert await l1.get("k") is not None
    ticker.advance(2)  # the refilled copies expire with the entry, not 60 s after the refill
    assert await l1.get("k") is None
    assert await l2.get("k") is None


async def test_entry_past_its_lifetime_is_served_but_not_copied_up(ticker: Ticker) -> None:
    l1, l2 = memory(ticker), PlainBackend(ticker)
    backend = TieredBackend([l1, l2], clock=ticker)
    old = entry(b"old", now=ticker.now - 100, ttl=10)  # kept longer by the lower tier
    await l2.set("k", old, 1000)
    assert await backend.get("k") == old
    assert await l1.get("k") is None


@pytest.mark.parametrize("policy", ["sequential", "concurrent"])
async def test_writes_and_deletes_reach_every_tier(ticker: Ticker, policy: str) -> None:
    tiers = [memory(ticker), memory(ticker), PlainBackend(ticker)]
    backend = TieredBackend(tiers, write_policy=policy, clock=ticker)  # type: ignore[arg-type]
    await backend.set("k", entry(b"v"), 60)
    for tier in tiers:
        stored = await tier.get("k")
        assert stored is not None
        assert stored.data == b"v"
    await backend.delete("k")
    for tier in tiers:
        assert await tier.get("k") is None


class Recorder(PlainBackend):
    """Records the order of writes across tiers, and can hold them on an event."""

    def __init__(self, name: str, log: list[str], hold: asyncio.Event | None = None) -> None:
        super().__init__()
        self.name, self.log, self.hold = name, log, hold

    async def set(self, key: str, value: CachedValue, ttl: float) -> None:
        self.log.append(f"{self.name} start")
        if self.hold is not None:
            await self.hold.wait()
        await super().set(key, value, ttl)
        self.log.append(f"{self.name} done")


async def test_sequential_writes_go_lowest_tier_first() -> None:
    log: list[str] = []
    backend = TieredBackend([Recorder("L1", log), Recorder("L2", log), Recorder("L3", log)])
    await backend.set("k", entry(), 60)
    assert log == ["L3 start", "L3 done", "L2 start", "L2 done", "L1 start", "L1 done"]


async def test_concurrent_writes_overlap() -> None:
    log: list[str] = []
    hold = asyncio.Event()
    backend = TieredBackend(
        [Recorder("L1", log, hold), Recorder("L2", log, hold)], write_policy="concurrent"
    )
    task = asyncio.create_task(backend.set("k", entry(), 60))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert sorted(log) == ["L1 start", "L2 start"]  # both started before either finished
    hold.set()
    await task
    assert sorted(log) == ["L1 done", "L1 start", "L2 done", "L2 start"]


async def test_failing_lower_tier_degrades_to_l1(ticker: Ticker) -> None:
    l1, l2 = memory(ticker), shared(ticker)
    backend = TieredBackend([l1, l2], bus=None, clock=ticker)
    await backend.set("cached", entry(b"v"), 60)
    l2.failing = True
    stored = await backend.get("cached")
    assert stored is not None
    assert stored.data == b"v"
    assert await backend.get("missing") is None  # L1 answered; no exception
    await backend.set("new", entry(b"n"), 60)  # stored in L1 although L2 refused
    new = await l1.get("new")
    assert new is not None
    assert new.data == b"n"
    with pytest.raises(BackendError, match="did not reach L2"):
        await backend.delete("cached")  # an invalidation the shared tier missed is reported
    assert await l1.get("cached") is None  # ... after deleting from every reachable tier
    assert backend.stats().errors[1] >= 3


async def test_failing_l1_degrades_to_lower_tiers(ticker: Ticker) -> None:
    l1, l2 = shared(ticker), memory(ticker)
    backend = TieredBackend([l1, l2], bus=None, clock=ticker)
    await l2.set("k", entry(b"v"), 60)
    l1.failing = True
    stored = await backend.get("k")
    assert stored is not None
    assert stored.data == b"v"
    await backend.set("w", entry(b"w"), 60)
    assert await l2.get("w") is not None


async def test_every_tier_failing_raises(ticker: Ticker) -> None:
    l1, l2 = shared(ticker), shared(ticker)
    backend = TieredBackend([l1, l2], bus=None, clock=ticker)
    l1.failing = l2.failing = True
    with pytest.raises(ConnectionError):
        await backend.get("k")
    with pytest.raises(ConnectionError):
        await backend.set("k", entry(), 60)
    with pytest.raises(BackendError):
        await backend.delete("k")


async def test_failing_tier_is_skipped_then_probed(ticker: Ticker) -> None:
    l2 = shared(ticker)
    backend = TieredBackend(
        [memory(ticker), l2], bus=None, failure_threshold=2, cooldown=5, clock=ticker,
        monotonic=ticker,
    )  # fmt: skip
    l2.failing = True
    for index in range(10):
        assert await backend.get(f"k{index}") is None
    assert len(l2.calls) == 2  # skipped after two consecutive failures
    ticker.advance(6)
    l2.failing = False
    await l2.store.set("back", entry(b"b", now=ticker.now), 60)
    # The tier has a health check: the first call after the cooldown starts a ping in
    # the background instead of waiting on the tier itself.
    assert await backend.get("back") is None
    for _ in range(5):
        await asyncio.sleep(0)
    stored = await backend.get("back")  # the ping answered: the tier is used again
    assert stored is not None
    assert stored.data == b"b"
    assert await backend.get("k0") is None
    assert [op for op, _ in l2.calls].count("get") == 4


async def test_corrupt_entries_are_misses(ticker: Ticker) -> None:
    l1, l2 = shared(ticker), memory(ticker)
    backend = TieredBackend([l1, l2], bus=None, private_tiers=1, clock=ticker)
    await l2.set("k", entry(b"good"), 60)
    l1.corrupt.add("k")
    stored = await backend.get("k")  # a bad L1 copy falls through to L2
    assert stored is not None
    assert stored.data == b"good"
    l1.corrupt.clear()
    bottom = shared(ticker)
    backend = TieredBackend([memory(ticker), bottom], bus=None, clock=ticker)
    bottom.corrupt.add("bad")
    assert await backend.get("bad") is None
    bottom.corrupt.clear()
    await bottom.store.set("bad", entry(b"fixed"), 60)
    fixed = await backend.get("bad")  # the corrupt read was not remembered as absent
    assert fixed is not None
    assert fixed.data == b"fixed"


async def test_misses_are_remembered_in_l1(ticker: Ticker) -> None:
    l1, l2 = memory(ticker), shared(ticker)
    backend = TieredBackend([l1, l2], bus=None, negative_ttl=10, clock=ticker)
    assert await backend.get("k") is None
    assert await backend.get("k") is None
    assert [op for op, _ in l2.calls] == ["get"]  # the second miss stayed in L1
    assert backend.stats().negative_hits == 1
    await backend.set("k", entry(b"v", now=ticker.now), 60)  # a write replaces the marker
    stored = await backend.get("k")
    assert stored is not None
    assert stored.data == b"v"
    assert await backend.get("other") is None
    ticker.advance(11)
    assert await backend.get("other") is None
    assert [op for op, _ in l2.calls].count("get") == 3  # the marker expired


async def test_negative_caching_can_be_off(ticker: Ticker) -> None:
    l2 = shared(ticker)
    backend = TieredBackend([memory(ticker), l2], bus=None, negative_ttl=0, clock=ticker)
    assert await backend.get("k") is None
    assert await backend.get("k") is None
    assert len(l2.calls) == 2


async def test_max_l1_ttl_caps_private_entries(ticker: Ticker) -> None:
    l1, l2 = memory(ticker), memory(ticker)
    backend = TieredBackend([l1, l2], max_l1_ttl=5, clock=ticker)
    await backend.set("k", entry(ttl=60), 60)
    ticker.advance(6)
    assert await l1.get("k") is None
    assert await l2.get("k") is not None
    assert await backend.get("k") is not None  # refilled from L2, again for 5 s at most


async def test_capabilities_follow_the_tiers(ticker: Ticker) -> None:
    plain = TieredBackend([PlainBackend(ticker), PlainBackend(ticker)])
    assert not isinstance(plain, BatchBackend)
    assert not isinstance(plain, LockingBackend)
    assert isinstance(plain, Healthcheck)
    rich = TieredBackend([memory(ticker), PlainBackend(ticker)])
    assert isinstance(rich, BatchBackend)
    assert isinstance(rich, LockingBackend)
    assert isinstance(rich, TieredBackend)


async def test_locks_come_from_the_lowest_locking_tier(ticker: Ticker) -> None:
    l1, l2 = memory(ticker), memory(ticker)
    backend = TieredBackend([l1, l2, PlainBackend(ticker)])
    assert isinstance(backend, LockingBackend)
    token = await backend.acquire_lock("k", 30)
    assert token is not None
    assert await l2.acquire_lock("k", 30) is None  # held in L2, the lowest that locks
    assert await l1.acquire_lock("k", 30) is not None
    await backend.release_lock("k", token)
    assert await l2.acquire_lock("k", 30) is not None


async def test_get_many_reads_each_tier_once(ticker: Ticker) -> None:
    l1, l2 = memory(ticker), shared(ticker)
    backend = TieredBackend([l1, l2], bus=None, clock=ticker)
    assert isinstance(backend, BatchBackend)
    await l1.set("a", entry(b"a"), 60)
    await l2.store.set("b", entry(b"b"), 60)
    await l2.store.set("c", entry(b"c"), 60)
    results = await backend.get_many(["a", "b", "c", "d", "b"])
    assert [r.data if r else None for r in results] == [b"a", b"b", b"c", None, b"b"]
    assert l2.calls == [("get_many", ["b", "c", "d", "b"])]
    assert (await l1.get("c")) is not None  # refilled
    l2.calls.clear()
    results = await backend.get_many(["a", "b", "c", "d"])
    assert [r.data if r else None for r in results] == [b"a", b"b", b"c", None]
    assert l2.calls == []  # everything, the absent "d" too, came from L1


async def test_batch_writes_and_deletes(ticker: Ticker) -> None:
    l1, l2, l3 = memory(ticker), PlainBackend(ticker), memory(ticker)
    backend = TieredBackend([l1, l2, l3], clock=ticker)
    assert isinstance(backend, BatchBackend)
    await backend.set_many({"a": (entry(b"a"), 60), "b": (entry(b"b"), 60)})
    for tier in (l1, l2, l3):
        assert [e.data if e else None for e in [await tier.get("a"), await tier.get("b")]] == [
            b"a",
            b"b",
        ]
    await backend.delete_many(["a", "b"])
    for tier in (l1, l2, l3):
        assert await tier.get("a") is None
        assert await tier.get("b") is None


async def test_ping_names_the_tier_that_does_not_answer(ticker: Ticker) -> None:
    l2 = shared(ticker)
    backend = TieredBackend([memory(ticker), l2, PlainBackend(ticker)], bus=None)
    assert await backend.ping() is True
    l2.bus.hub.up = False
    with pytest.raises(BackendError, match=r"L2 \(SharedTier\)"):
        await backend.ping()


async def test_cache_over_tiered_backend() -> None:
    clock = hitbox.ManualClock(1_700_000_000.0)
    l1, l2 = MemoryBackend(max_entries=100, clock=clock), PlainBackend(clock)
    backend = TieredBackend([l1, l2], clock=clock)
    cache = hitbox.Cache(backend, policy=hitbox.Policy(ttl=60), clock=clock)
    calls = 0

    @cache.cached(key="user:{user_id}", tags=["user:{user_id}"])
    async def get_user(user_id: int) -> dict[str, int]:
        nonlocal calls
        calls += 1
        return {"id": user_id, "call": calls}

    async with cache:
        assert await get_user(1) == {"id": 1, "call": 1}
        assert await get_user(1) == {"id": 1, "call": 1}
        await clock.advance(1)
        await cache.invalidate_tags("user:1")
        await clock.advance(1)
        assert await get_user(1) == {"id": 1, "call": 2}
        assert cache.stats().hits == 1
        await l1.delete(get_user.cache_key(1))  # L1 lost it: the L2 copy serves
        assert await get_user(1) == {"id": 1, "call": 2}
        assert backend.stats().hits[1] >= 1


class Hanging(PlainBackend):
    """A remote tier that never answers."""

    is_local = False

    async def get(self, key: str) -> CachedValue | None:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_remote_tiers_are_bounded_by_tier_timeout(ticker: Ticker) -> None:
    bounded = TieredBackend([memory(ticker), Hanging()], tier_timeout=0.05, clock=ticker)
    assert bounded.is_local  # bounds itself: the cache needs no timeout of its own
    assert await bounded.get("k") is None  # L1 answered; the hanging L2 was cut off
    assert bounded.stats().errors == (0, 1)
    unbounded = TieredBackend([memory(ticker), Hanging()], tier_timeout=None)
    assert not unbounded.is_local  # the cache's backend_timeout applies instead
    remote_top = TieredBackend([Hanging(), memory(ticker)], tier_timeout=0.05)
    assert not remote_top.is_local
