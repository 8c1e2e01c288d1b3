"""RedisBackend against a real server: storage layout, round trips, cluster splitting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from hitbox import CorruptEntry
from hitbox.codec import EnvelopeCodec
from hitbox.testing import make_value
from hitbox_redis import RedisBackend
from hitbox_redis._sizes import BOUNDED_MGET
from redis.asyncio import Redis

from tests.redis_servers import RedisClusterServers, RedisServer

pytestmark = pytest.mark.services

MakeBackend = Callable[..., RedisBackend]


async def command_calls(client: Any) -> dict[str, int]:
    """Calls per command since the last ``CONFIG RESETSTAT`` (summed over cluster nodes)."""
    if isinstance(client, Redis):
        stats = await client.info("commandstats")
        return {name: entry["calls"] for name, entry in stats.items()}
    per_node = await client.info("commandstats", target_nodes=client.ALL_NODES)
    merged: dict[str, int] = {}
    for node_stats in per_node.values():
        for name, entry in node_stats.items():
            merged[name] = merged.get(name, 0) + entry["calls"]
    return merged


async def reset_stats(client: Any) -> None:
    """Reset the command counters, with the backend's read script loaded (as ``open``
    loads it), so a count of ``EVALSHA`` is one per batched read."""
    await client.script_load(BOUNDED_MGET)
    if isinstance(client, Redis):
        await client.config_resetstat()
    else:
        await client.config_resetstat(target_nodes=client.ALL_NODES)


async def test_entry_is_an_envelope_with_px_of_the_full_lifetime(
    redis_server: RedisServer, make_backend: MakeBackend
) -> None:
    backend = make_backend(redis_server.url)
    value = make_value(b"body", ttl=30, max_stale=15, tags=("t",))
    await backend.set("layout", value, 45.5)
    raw = Redis.from_url(redis_server.url)
    try:
        stored = await raw.get("layout")
        pttl = await raw.pttl("layout")
    finally:
        await raw.aclose()
    assert stored is not None
    assert EnvelopeCodec().decode(stored) == value
    assert 44_000 < pttl <= 45_500


async def test_garbage_under_a_key_raises_corrupt_entry(
    redis_server: RedisServer, make_backend: MakeBackend
) -> None:
    backend = make_backend(redis_server.url)
    await backend.client.set("garbage", b"\x00not an envelope")
    await backend.set("fine", make_value(b"ok"), 60)
    with pytest.raises(CorruptEntry):
        await backend.get("garbage")
    with pytest.raises(CorruptEntry, match="garbage"):
        await backend.get_many(["fine", "garbage"])
    stored = await backend.get("fine")  # the other readers of a batch are unaffected
    assert stored is not None


async def test_entries_signed_with_another_key_are_corrupt(
    redis_server: RedisServer, make_backend: MakeBackend
) -> None:
    writer = make_backend(redis_server.url, signing_key="k" * 32)
    same_key = make_backend(redis_server.url, signing_key="k" * 32)
    other_key = make_backend(redis_server.url, signing_key="x" * 32)
    unsigned = make_backend(redis_server.url)
    await writer.set("signed", make_value(b"secret"), 60)
    stored = await same_key.get("signed")
    assert stored is not None
    assert stored.data == b"secret"
    for reader in (other_key, unsigned):
        with pytest.raises(CorruptEntry):
            await reader.get("signed")


async def test_signed_entry_copied_to_another_key_is_corrupt(
    redis_server: RedisServer, make_backend: MakeBackend
) -> None:
    """Someone who can write to Redis cannot serve user 1's entry under user 2's key."""
    backend = make_backend(redis_server.url, signing_key="k" * 32)
    await backend.set("user:1:profile", make_value(b"private to user 1"), 60)
    raw = await backend.client.get("user:1:profile")
    await backend.client.set("user:2:profile", raw)
    with pytest.raises(CorruptEntry, match="bad envelope signature"):
        await backend.get("user:2:profile")
    with pytest.raises(CorruptEntry):
        await backend.get_many(["user:2:profile"])
    stored = await backend.get("user:1:profile")
    assert stored is not None


async def test_rejects_non_positive_ttl(
    redis_server: RedisServer, make_backend: MakeBackend
) -> None:
    backend = make_backend(redis_server.url)
    for ttl in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="ttl must be a positive number"):
            await backend.set("k", make_value(), ttl)


# -- round trips ---------------------------------------------------------------------


async def test_concurrent_gets_of_one_turn_are_one_batched_read(
    redis_server: RedisServer, make_backend: MakeBackend
) -> None:
    backend = make_backend(redis_server.url)
    keys = [f"turn:{i}" for i in range(50)]
    await backend.set_many({k: (make_value(k.encode()), 60.0) for k in keys})
    await reset_stats(backend.client)
    results = await asyncio.gather(*(backend.get(k) for k in keys))
    calls = await command_calls(backend.client)
    assert [r.data if r else None for r in results] == [k.encode() for k in keys]
    assert calls.get("cmdstat_evalsha") == 1
    # Every GET ran inside that one script, beside its STRLEN: no GET round trips.
    assert calls.get("cmdstat_get") == calls.get("cmdstat_strlen") == len(keys)


async def test_same_key_readers_share_one_lookup(
    redis_server: RedisServer, make_backend: MakeBackend
) -> None:
    backend = make_backend(redis_server.url)
    hot = [f"hot:{i}" for i in range(4)]
    await backend.set_many({k: (make_value(k.encode()), 60.0) for k in hot})
    await reset_stats(backend.client)
    results = await asyncio.gather(*(backend.get(hot[i % 4]) for i in range(200)))
    stats = await backend.client.info("stats")
    calls = await command_calls(backend.client)
    assert [r.data if r else None for r in results] == [hot[i % 4].encode() for i in range(200)]
    assert calls.get("cmdstat_evalsha") == 1
    # Four keys looked up (STRLEN, then GET), not two hundred.
    assert stats["keyspace_hits"] == 2 * 4


async def test_get_many_joins_the_single_gets_of_its_turn(
    redis_server: RedisServer, make_backend: MakeBackend
) -> None:
    backend = make_backend(redis_server.url)
    keys = [f"joined:{i}" for i in range(6)]
    await backend.set_many({k: (make_value(k.encode()), 60.0) for k in keys})
    await reset_stats(backend.client)
    single, many = await asyncio.gather(backend.get(keys[0]), backend.get_many(keys[1:]))
    assert single is not None
    assert [r.data if r else None for r in many] == [k.encode() for k in keys[1:]]
    assert (await command_calls(backend.client)).get("cmdstat_evalsha") == 1


async def test_without_auto_batch_every_get_is_a_round_trip(
    redis_server: RedisServer, make_backend: MakeBackend
) -> None:
    backend = make_backend(redis_server.url, auto_batch=False)
    await reset_stats(backend.client)
    await asyncio.gather(*(backend.get(f"nb:{i}") for i in range(20)))
    calls = await command_calls(backend.client)
    assert calls.get("cmdstat_getrange") == 20  # the lean path's bounded GET
    assert "cmdstat_evalsha" not in calls


async def test_read_after_write_never_shares_an_older_read(
    redis_server: RedisServer, make_backend: MakeBackend
) -> None:
    backend = make_backend(redis_server.url)
    for round_ in range(20):
        await backend.set("rw", make_value(str(round_).encode()), 60)
        stored = await backend.get("rw")
        assert stored is not None
        assert stored.data == str(round_).encode()


async def test_get_many_splits_into_chunks_in_one_pipeline(
    redis_server: RedisServer, make_backend: MakeBackend
) -> None:
    backend = make_backend(redis_server.url, max_batch_size=100)
    keys = [f"many:{i}" for i in range(250)]
    await backend.set_many({k: (make_value(k.encode()), 60.0) for k in keys[::2]})
    await reset_stats(backend.client)
    results = await backend.get_many([*keys, keys[0]])
    calls = await command_calls(backend.client)
    expected = [k.encode() if i % 2 == 0 else None for i, k in enumerate(keys)]
    assert [r.data if r else None for r in results] == [*expected, keys[0].encode()]
    assert calls.get("cmdstat_evalsha") == 3
    await backend.delete_many(keys)
    assert await backend.get_many(keys[:3]) == [None, None, None]


# -- cluster -------------------------------------------------------------------------


async def test_cluster_batches_split_per_slot(
    redis_cluster: RedisClusterServers, make_backend: MakeBackend
) -> None:
    backend = make_backend(redis_cluster.url)
    keys = [f"{{tenant{t}}}:item{i}" for t in range(6) for i in range(10)]
    await backend.set_many({k: (make_value(k.encode()), 60.0) for k in keys})
    await reset_stats(backend.client)
    results = await backend.get_many(keys)
    assert [r.data if r else None for r in results] == [k.encode() for k in keys]
    assert (await command_calls(backend.client)).get("cmdstat_evalsha") == 6  # one per tag
    await reset_stats(backend.client)
    concurrent = await asyncio.gather(*(backend.get(k) for k in keys))
    assert [r.data if r else None for r in concurrent] == [k.encode() for k in keys]
    assert (await command_calls(backend.client)).get("cmdstat_evalsha") == 6
    await backend.delete_many(keys)
    assert await backend.get_many(keys) == [None] * len(keys)


async def test_cluster_keys_spread_over_every_master(
    redis_cluster: RedisClusterServers, make_backend: MakeBackend
) -> None:
    backend = make_backend(redis_cluster.url)
    keys = [f"spread:{i}" for i in range(200)]
    await backend.set_many({k: (make_value(k.encode()), 60.0) for k in keys})
    results = await asyncio.gather(*(backend.get(k) for k in keys))
    assert [r.data if r else None for r in results] == [k.encode() for k in keys]
    sizes = [int(node.cli("dbsize").strip()) for node in redis_cluster.nodes]
    assert all(size > 0 for size in sizes), sizes


@pytest.mark.parametrize(("auto_batch", "most"), [(True, 2), (False, 50)])
async def test_concurrent_writes_need_few_connections(
    redis_server: RedisServer, make_backend: MakeBackend, auto_batch: bool, most: int
) -> None:
    backend = make_backend(redis_server.url, auto_batch=auto_batch)
    before = (await backend.client.info("stats"))["total_connections_received"]
    value = make_value(b"w")
    await asyncio.gather(*(backend.set(f"w:{i}", value, 60) for i in range(50)))
    opened = (await backend.client.info("stats"))["total_connections_received"] - before
    assert opened <= most
    if not auto_batch:
        assert opened > 2  # the comparison is meaningful: unbatched writes fan out
    stored = await backend.get_many([f"w:{i}" for i in range(50)])
    assert all(entry == value for entry in stored)
