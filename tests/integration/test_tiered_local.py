"""``TieredBackend.read_local``: L1's answer when ``get`` would return it, else NOT_LOCAL.

Each test checks that a local answer is never an entry ``get`` would not return: an L1
hit is known, an L1 miss is not (the tiers below may hold it), and after an invalidation
— a local delete, another instance's write heard over the bus, a tag published on the
bus — the old entry is never handed out.
"""

from __future__ import annotations

import hitbox
from hitbox.backend import NOT_LOCAL, LocalReads
from hitbox.tiered import TieredBackend
from hitbox_memory import MemoryBackend

from tests.integration.conftest import (
    Cluster,
    HubBus,
    PlainBackend,
    Ticker,
    entry,
    wait_until,
)


async def agreed(backend: TieredBackend, key: str) -> object:
    """``read_local(key)``, checked against what ``get`` returns right after."""
    local = backend.read_local(key)
    got = await backend.get(key)
    assert local is NOT_LOCAL or local is got, (local, got)
    return local


def two_tiers(ticker: Ticker) -> TieredBackend:
    l1 = MemoryBackend(max_entries=100, clock=ticker)
    return TieredBackend([l1, PlainBackend(ticker)], bus=None, clock=ticker)


async def test_an_l1_hit_is_known_and_an_l1_miss_is_not(ticker: Ticker) -> None:
    backend = two_tiers(ticker)
    assert isinstance(backend, LocalReads)
    assert backend.local_reads
    assert await agreed(backend, "k") is NOT_LOCAL  # nothing anywhere: get() decides
    stored = entry(b"v")
    await backend.set("k", stored, 60)
    found = await agreed(backend, "k")
    assert isinstance(found, hitbox.CachedValue)
    assert found.data == b"v"
    assert backend.read_local("k") is found  # the same object while unchanged
    assert backend.stats().hits[0] >= 2  # local hits count as L1 hits


async def test_an_entry_only_below_is_not_known_until_get_refills_l1(ticker: Ticker) -> None:
    backend = two_tiers(ticker)
    lower = backend.tiers[1].backend
    await lower.set("k", entry(b"below"), 60)
    assert backend.read_local("k") is NOT_LOCAL
    refilled = await backend.get("k")
    assert refilled is not None
    assert refilled.data == b"below"
    found = backend.read_local("k")
    assert isinstance(found, hitbox.CachedValue)
    assert found.data == b"below"


async def test_a_rewrite_or_a_delete_is_never_answered_with_the_old_entry(
    ticker: Ticker,
) -> None:
    backend = two_tiers(ticker)
    await backend.set("k", entry(b"old"), 60)
    old = backend.read_local("k")
    await backend.set("k", entry(b"new"), 60)
    new = await agreed(backend, "k")
    assert isinstance(new, hitbox.CachedValue)
    assert new is not old
    assert new.data == b"new"
    await backend.delete("k")
    assert backend.read_local("k") is NOT_LOCAL
    assert await backend.get("k") is None


async def test_expired_in_l1_is_not_known(ticker: Ticker) -> None:
    backend = two_tiers(ticker)
    await backend.set("k", entry(b"v", ttl=5), 5)
    ticker.advance(6)
    assert await agreed(backend, "k") is NOT_LOCAL


async def test_negative_caching_marker_is_left_to_get(ticker: Ticker) -> None:
    backend = two_tiers(ticker)
    assert await backend.get("absent") is None  # remembered as absent in L1
    assert backend.read_local("absent") is NOT_LOCAL
    assert await backend.get("absent") is None
    assert backend.stats().negative_hits == 1


async def test_a_flushed_or_failing_l1_is_left_to_get(ticker: Ticker) -> None:
    backend = two_tiers(ticker)
    await backend.set("k", entry(b"v"), 60)
    backend.tiers[0].prefix = "__gen__:"  # a flush by key generation: get() adds the prefix
    assert backend.read_local("k") is NOT_LOCAL


async def test_another_instances_write_over_the_bus_drops_the_local_answer(
    cluster: Cluster, ticker: Ticker
) -> None:
    a, b = cluster.add(), cluster.add()
    assert a.read_local("k") is NOT_LOCAL  # the bus listener is not running yet
    for instance in (a, b):
        await instance.get("__warm__")
    await cluster.hub.wait_for_subscribers(2)
    await a.set("k", entry(b"old"), 60)
    assert (await b.get("k")) is not None  # B's L1 holds the old entry now
    held = b.read_local("k")
    assert isinstance(held, hitbox.CachedValue)
    assert held.data == b"old"
    ticker.advance(1)
    await a.set("k", entry(b"new", now=ticker.now), 60)
    await cluster.settle()
    assert await agreed(b, "k") is NOT_LOCAL  # dropped from B's L1: get() reads below
    found = await agreed(b, "k")
    assert isinstance(found, hitbox.CachedValue)
    assert found.data == b"new"


async def test_a_tag_published_on_the_bus_hides_the_local_answer(
    cluster: Cluster, ticker: Ticker
) -> None:
    a = cluster.add()
    await a.get("__warm__")
    await cluster.hub.wait_for_subscribers(1)
    await a.set("tagged", entry(b"v", now=ticker.now - 1, tags=("team:7",)), 60)
    assert isinstance(a.read_local("tagged"), hitbox.CachedValue)
    await HubBus(cluster.hub, "someone-else").publish_invalidation(tags=["team:7"])
    await wait_until(lambda: a.stats().invalidations_received >= 1)
    assert await agreed(a, "tagged") is NOT_LOCAL
    assert await a.get("tagged") is None


async def test_without_local_reads_in_l1_the_capability_is_off(ticker: Ticker) -> None:
    backend = TieredBackend([PlainBackend(ticker), PlainBackend(ticker)], bus=None)
    assert backend.local_reads is False
    await backend.set("k", entry(b"v"), 60)
    assert backend.read_local("k") is NOT_LOCAL
