"""Cross-instance invalidation of tiered backends over an in-process bus.

Two or more tiered instances (memory L1 each, one shared store with a bus) in one event
loop, with a hand-moved clock for lifetimes, grace periods and outages. The bus monitor
probes every few milliseconds of real time; the tests wait for its reaction with
:func:`wait_until`, a bound on waiting rather than a sleep to let time pass.
"""

from __future__ import annotations

import asyncio

import hitbox
from hitbox.tiered import TieredBackend
from hitbox_memory import MemoryBackend

from tests.integration.conftest import (
    BusHub,
    Cluster,
    HubBus,
    PlainBackend,
    SharedTier,
    Ticker,
    entry,
    wait_until,
)


def data(found: hitbox.CachedValue | None) -> bytes | None:
    return None if found is None else found.data


async def warm(cluster: Cluster, *instances: TieredBackend) -> None:
    """Start every instance's listener and wait until all are subscribed."""
    for instance in instances:
        await instance.get("__warm__")
    await cluster.hub.wait_for_subscribers(len(instances))


async def test_a_write_drops_the_key_from_other_l1s(cluster: Cluster, ticker: Ticker) -> None:
    a, b = cluster.add(), cluster.add()
    await warm(cluster, a, b)
    await a.set("k", entry(b"v1", now=ticker.now), 60)
    await cluster.settle()
    assert data(await b.get("k")) == b"v1"  # now in B's L1
    b_l1 = b.tiers[0].backend
    assert await b_l1.get("k") is not None
    await a.set("k", entry(b"v2", now=ticker.now), 60)
    await cluster.settle()
    assert await b_l1.get("k") is None
    assert data(await b.get("k")) == b"v2"
    assert a.stats().invalidations_received == 0  # its own messages are not applied


async def test_a_delete_drops_the_key_from_other_l1s(cluster: Cluster, ticker: Ticker) -> None:
    a, b, c = cluster.add(), cluster.add(), cluster.add()
    await warm(cluster, a, b, c)
    await a.set("k", entry(b"v", now=ticker.now), 60)
    await cluster.settle()
    assert data(await b.get("k")) == b"v"
    assert data(await c.get("k")) == b"v"
    await a.delete("k")
    await cluster.settle()
    assert await b.get("k") is None
    assert await c.get("k") is None


async def test_a_remembered_miss_is_dropped_by_a_write(cluster: Cluster, ticker: Ticker) -> None:
    a, b = cluster.add(), cluster.add()
    await warm(cluster, a, b)
    assert await b.get("k") is None  # remembered as absent in B's L1
    await a.set("k", entry(b"v", now=ticker.now), 60)
    await cluster.settle()
    assert data(await b.get("k")) == b"v"


async def test_tag_invalidation_through_cache_reaches_other_instances(
    cluster: Cluster, ticker: Ticker
) -> None:
    clock = hitbox.ManualClock(ticker.now)
    a_backend, b_backend = cluster.add(clock=clock), cluster.add(clock=clock)
    policy = hitbox.Policy(ttl=300)
    cache_a = hitbox.Cache(a_backend, policy=policy, clock=clock)
    cache_b = hitbox.Cache(b_backend, policy=policy, clock=clock)
    calls = {"a": 0, "b": 0}

    def define(cache: hitbox.Cache, name: str):  # type: ignore[no-untyped-def]
        @cache.cached(key="stock:{item}", tags=["inventory:{item}"])
        async def stock(item: int) -> int:
            calls[name] += 1
            return item * 100 + (10 if name == "b" else 0) + calls[name]

        return stock

    stock_a, stock_b = define(cache_a, "a"), define(cache_b, "b")
    await warm(cluster, a_backend, b_backend)
    assert await stock_a(4) == 401
    await cluster.settle()
    assert await stock_b(4) == 401  # from the shared tier, now in B's L1
    assert await stock_b(4) == 401
    assert calls["b"] == 0
    reads_before = len(cluster.store_calls(b_backend))
    assert await stock_b(4) == 401
    assert len(cluster.store_calls(b_backend)) == reads_before  # entry and tag marker in L1
    await clock.advance(1)
    await cache_a.invalidate_tags("inventory:4")
    await cluster.settle()
    await clock.advance(1)
    assert await stock_b(4) == 411  # B's next read missed and called its upstream
    assert calls["b"] == 1


async def test_tags_published_on_the_bus_hide_older_entries(
    cluster: Cluster, ticker: Ticker
) -> None:
    a = cluster.add()
    await warm(cluster, a)
    await a.set("tagged", entry(b"v", now=ticker.now - 1, tags=("team:7",)), 60)
    await a.set("other", entry(b"o", now=ticker.now - 1, tags=("team:8",)), 60)
    await HubBus(cluster.hub, "someone-else").publish_invalidation(tags=["team:7"])
    await wait_until(lambda: a.stats().invalidations_received >= 1)
    assert await a.get("tagged") is None
    assert data(await a.get("other")) == b"o"
    assert (await a.get_many(["tagged", "other"]))[0] is None  # type: ignore[attr-defined]
    ticker.advance(1)
    await a.set("tagged", entry(b"new", now=ticker.now, tags=("team:7",)), 60)
    assert data(await a.get("tagged")) == b"new"  # created after the invalidation


async def test_a_read_racing_an_invalidation_does_not_refill(
    cluster: Cluster, ticker: Ticker
) -> None:
    a, b = cluster.add(), cluster.add()
    await warm(cluster, a, b)
    await a.set("k", entry(b"old", now=ticker.now), 60)
    shared_b = b.tiers[1].backend
    assert isinstance(shared_b, SharedTier)
    shared_b.gate = asyncio.Event()
    read = asyncio.create_task(b.get("k"))  # B has read the old entry from L2 ...
    await wait_until(lambda: ("get", "k") in shared_b.calls)
    received = b.stats().invalidations_received
    await a.set("k", entry(b"new", now=ticker.now), 60)  # ... when A rewrites the key
    await wait_until(lambda: b.stats().invalidations_received > received)
    shared_b.gate.set()
    assert data(await read) == b"old"
    shared_b.gate = None
    assert data(await b.get("k")) == b"new"  # the old entry was not copied into L1


async def test_writes_of_one_loop_turn_share_one_message(cluster: Cluster, ticker: Ticker) -> None:
    a, b = cluster.add(), cluster.add()
    await warm(cluster, a, b)
    before = len(cluster.hub.published)
    await asyncio.gather(*(a.set(f"k{i}", entry(now=ticker.now), 60) for i in range(50)))
    messages = cluster.hub.published[before:]
    assert len(messages) == 1
    assert set(messages[0].keys) == {f"k{i}" for i in range(50)}


async def test_new_instance_is_recovering_until_it_hears_the_bus(
    cluster: Cluster, ticker: Ticker
) -> None:
    a, b = cluster.add(), cluster.add()
    await warm(cluster, a, b)
    assert b.stats().bus == "recovering"
    await b.set("early", entry(now=ticker.now), 60)  # short-lived in L1 for now
    await a.set("x", entry(now=ticker.now), 60)
    await wait_until(lambda: b.stats().bus == "live")
    await b.set("late", entry(now=ticker.now), 60)
    ticker.advance(2)
    l1 = b.tiers[0].backend
    assert await l1.get("early") is None
    assert await l1.get("late") is not None


async def test_grace_ends_by_itself(ticker: Ticker) -> None:
    cluster = Cluster(ticker, recovery_grace=1.0)
    a = cluster.add()
    try:
        await warm(cluster, a)
        assert a.stats().bus == "recovering"
        ticker.advance(1.5)
        assert a.stats().bus == "live"
    finally:
        await cluster.aclose()


async def test_announced_subscription_ends_the_start_grace_and_a_gap_flushes(
    ticker: Ticker,
) -> None:
    cluster = Cluster(ticker)
    cluster.hub.announce = True
    a, b = cluster.add(), cluster.add()
    try:
        await warm(cluster, a, b)
        await wait_until(lambda: b.stats().bus == "live")  # subscribed: no grace left
        await a.set("k", entry(b"v1", now=ticker.now), 60)
        await cluster.settle()
        assert data(await b.get("k")) == b"v1"
        cluster.hub.delivering = False  # a disconnection the probes do not notice ...
        await a.set("k", entry(b"v2", now=ticker.now), 60)  # ... loses this message
        await a.flush_invalidations()
        cluster.hub.delivering = True
        assert data(await b.get("k")) == b"v1"  # stale in B's L1, for now
        cluster.hub.reconnect()  # the bus says it subscribed again: there was a gap
        await wait_until(lambda: b.stats().flushes == 1)
        assert data(await b.get("k")) == b"v2"
        assert a.stats().flushes == 1  # A cannot know the gap was not its own
    finally:
        await cluster.aclose()


async def test_outage_bounds_l1_lifetimes_then_flushes(ticker: Ticker) -> None:
    cluster = Cluster(ticker, outage_l1_ttl=2.0, recovery_grace=1.0)
    a, b = cluster.add(), cluster.add()
    try:
        await warm(cluster, a, b)
        await a.set("live", entry(now=ticker.now), 60)  # ends B's start-up grace
        await wait_until(lambda: b.stats().bus == "live")
        await b.set("before", entry(b"before", now=ticker.now, ttl=600), 600)
        l1 = b.tiers[0].backend
        cluster.outage()
        await wait_until(lambda: b.stats().bus == "down")
        assert data(await b.get("before")) == b"before"  # still served from L1 for now
        await b.set("during", entry(b"during", now=ticker.now, ttl=600), 600)
        ticker.advance(2.1)  # outage_l1_ttl after the outage began
        await wait_until(lambda: b.stats().flushes == 1)
        assert await l1.get("before") is None
        assert await l1.get("during") is None
        assert await b.get("before") is None  # the shared tier is down too: a miss
        await b.set("short", entry(now=ticker.now, ttl=600), 600)
        ticker.advance(2.1)
        assert await l1.get("short") is None
        cluster.outage(down=False)
        await wait_until(lambda: b.stats().bus == "recovering")
        ticker.advance(1.1)
        assert b.stats().bus == "live"
        await b.set("after", entry(now=ticker.now, ttl=600), 600)
        ticker.advance(10)
        assert await l1.get("after") is not None
    finally:
        await cluster.aclose()


async def test_failed_publishes_are_sent_when_the_bus_is_back(ticker: Ticker) -> None:
    cluster = Cluster(ticker, probe_interval=0.005)
    a, b = cluster.add(), cluster.add()
    try:
        await warm(cluster, a, b)
        await a.set("k", entry(b"v1", now=ticker.now), 60)
        await cluster.settle()
        assert data(await b.get("k")) == b"v1"
        received = b.stats().invalidations_received
        cluster.hub.up = False
        await wait_until(lambda: a.stats().bus == "down")
        await a.set("k", entry(b"v2", now=ticker.now), 60)  # its invalidation is queued
        await a.flush_invalidations()
        assert b.stats().invalidations_received == received
        cluster.hub.up = True
        await wait_until(lambda: b.stats().invalidations_received > received)
        assert data(await b.get("k")) == b"v2"
    finally:
        await cluster.aclose()


async def test_own_messages_are_ignored_when_the_bus_echoes_them(ticker: Ticker) -> None:
    hub = BusHub(filter_own=False)
    bus = HubBus(hub, "me")
    l1 = MemoryBackend(max_entries=100, clock=ticker)
    backend = TieredBackend([l1, PlainBackend(ticker)], bus=bus, clock=ticker)
    try:
        await backend.get("warm")
        await hub.wait_for_subscribers(1)
        await backend.set("k", entry(now=ticker.now), 60)
        await wait_until(lambda: len(hub.published) == 1)
        await asyncio.sleep(0.01)
        assert backend.stats().invalidations_received == 0
        assert await l1.get("k") is not None
    finally:
        await backend.aclose()


async def test_external_bus_and_private_tier_without_clear(ticker: Ticker) -> None:
    hub = BusHub()
    l1, l2 = PlainBackend(ticker), PlainBackend(ticker)
    backend = TieredBackend(
        [l1, l2], bus=HubBus(hub, "me"), outage_l1_ttl=1.0, clock=ticker, monotonic=ticker
    )
    try:
        await backend.set("k", entry(now=ticker.now), 60)
        await hub.wait_for_subscribers(1)
        await HubBus(hub, "other").publish_invalidation(keys=["k"])
        await wait_until(lambda: backend.stats().invalidations_received == 1)
        assert "k" not in l1.data
        assert "k" in l2.data  # the lowest tier is shared: not this instance's to drop
        await backend.set("k", entry(b"again", now=ticker.now), 60)
        await backend.flush_private()  # no clear(): L1 moves to a new key generation
        assert await backend.get("k") is not None  # refilled from L2 under the new keys
        assert any(key != "k" and key.endswith(":k") for key in l1.data)
    finally:
        await backend.aclose()


def test_survives_a_new_event_loop_per_call() -> None:
    """``asyncio.run`` per invocation (serverless): the bus tasks restart on each loop."""
    ticker = Ticker()
    cluster = Cluster(ticker)
    a, b = cluster.add(), cluster.add()

    async def invocation(value: bytes) -> bytes | None:
        await warm(cluster, a, b)
        await a.set("k", entry(value, now=ticker.now), 60)
        await cluster.settle()
        return data(await b.get("k"))

    assert asyncio.run(invocation(b"first")) == b"first"
    assert asyncio.run(invocation(b"second")) == b"second"  # B's L1 copy was dropped
    asyncio.run(cluster.aclose())
