"""Memcached backend behaviour against real servers: hashing, sizes, expiry, corruption."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import emcache
import pytest
from hitbox import BatchBackend, CorruptEntry, Healthcheck, LockingBackend
from hitbox.testing import make_value
from hitbox_memcached import MemcachedBackend, encode_key

from tests.memcached.conftest import MemcachedServer, start_memcached
from tests.support import BackendEventRecorder, backend_events  # noqa: F401 - fixture

pytestmark = pytest.mark.services


@pytest.fixture
async def raw(memcached_servers: list[MemcachedServer]) -> AsyncIterator[list[emcache.Client]]:
    """One plain emcache client per shared server, to see where keys really live."""
    clients = [
        await emcache.create_client([emcache.MemcachedHostAddress("127.0.0.1", server.port)])
        for server in memcached_servers
    ]
    yield clients
    for client in clients:
        await client.close()


def test_capabilities() -> None:
    backend = MemcachedBackend()
    assert isinstance(backend, BatchBackend)
    assert isinstance(backend, LockingBackend)
    assert isinstance(backend, Healthcheck)
    assert backend.is_local is False


async def test_keys_spread_over_every_server_and_survive_removing_one(
    memcached_servers: list[MemcachedServer], raw: list[emcache.Client]
) -> None:
    prefix = f"ring-{uuid.uuid4().hex[:8]}:"
    addresses = [server.address for server in memcached_servers]
    backend = MemcachedBackend(addresses, key_prefix=prefix)
    keys = [f"k{n}" for n in range(300)]
    await backend.set_many({k: (make_value(k.encode()), 60.0) for k in keys})

    homes: dict[str, int] = {}
    for key in keys:
        found = [i for i, c in enumerate(raw) if await c.get(encode_key(key, prefix))]
        assert len(found) == 1, f"{key} stored on servers {found}"
        homes[key] = found[0]
    per_server = [list(homes.values()).count(i) for i in range(3)]
    assert min(per_server) >= 50, per_server  # roughly a third each

    # Rendezvous hashing: the server order does not matter...
    reordered = MemcachedBackend(list(reversed(addresses)), key_prefix=prefix)
    assert all(v is not None for v in await reordered.get_many(keys))
    # ...and without the third server, every key of the other two still hits.
    shrunk = MemcachedBackend(addresses[:2], key_prefix=prefix)
    results = await shrunk.get_many(keys)
    for key, stored in zip(keys, results, strict=True):
        assert (stored is not None) == (homes[key] != 2), key
    for b in (backend, reordered, shrunk):
        await b.aclose()


async def test_key_prefixes_isolate_applications(memcached_servers: list[MemcachedServer]) -> None:
    shop = MemcachedBackend([memcached_servers[0].address], key_prefix="shop:")
    blog = MemcachedBackend([memcached_servers[0].address], key_prefix="blog:")
    key = f"page:{uuid.uuid4().hex}"
    await shop.set(key, make_value(b"shop"), 60)
    assert await blog.get(key) is None
    await shop.aclose()
    await blog.aclose()


async def test_oversized_entry_is_skipped_with_a_warning(
    memcached_servers: list[MemcachedServer],
    caplog: pytest.LogCaptureFixture,
    backend_events: BackendEventRecorder,  # noqa: F811
) -> None:
    seen: list[tuple[str, int]] = []
    backend = MemcachedBackend(
        [memcached_servers[0].address], on_oversized=lambda key, size: seen.append((key, size))
    )
    key = f"big:{uuid.uuid4().hex}"
    await backend.set(key, make_value(b"small"), 60)
    with caplog.at_level(logging.WARNING, logger="hitbox_memcached"):
        await backend.set(key, make_value(bytes(2 * 1024 * 1024)), 60)  # no exception
    assert await backend.get(key) is None  # the old, smaller entry is gone too
    assert backend.oversized_skipped == 1
    assert len(seen) == 1
    assert seen[0][0] == key
    assert seen[0][1] > 2 * 1024 * 1024
    assert "item size limit" in caplog.text
    assert backend_events.kinds() == [("oversized", "memcached", key)]
    await backend.aclose()


async def test_server_limit_below_max_item_size_is_also_skipped() -> None:
    server = start_memcached(item_size="1m")
    # Misconfigured on purpose: the backend believes items up to 8 MiB fit.
    backend = MemcachedBackend([server.address], max_item_size=8 * 1024 * 1024)
    try:
        await backend.set("k", make_value(b"old"), 60)
        await backend.set("k", make_value(bytes(3 * 1024 * 1024)), 60)
        assert await backend.get("k") is None
        assert backend.oversized_skipped == 1
        await backend.set("k", make_value(b"fits"), 60)
        stored = await backend.get("k")
        assert stored is not None
        assert stored.data == b"fits"
    finally:
        await backend.aclose()
        server.kill()


async def test_ttl_beyond_thirty_days_is_kept(memcached_servers: list[MemcachedServer]) -> None:
    # memcached reads exptime above 30 days as a unix time: sent raw, 40 days would be a
    # date in 1970 and the entry would vanish at once.
    backend = MemcachedBackend([memcached_servers[0].address])
    key = f"long:{uuid.uuid4().hex}"
    await backend.set(key, make_value(ttl=40 * 86400), 40 * 86400)
    assert await backend.get(key) is not None
    await backend.aclose()


async def test_garbled_value_raises_corrupt_entry(
    memcached_servers: list[MemcachedServer], raw: list[emcache.Client]
) -> None:
    backend = MemcachedBackend([memcached_servers[0].address])
    key = f"garbled:{uuid.uuid4().hex}"
    await raw[0].set(encode_key(key), b"not an envelope")
    with pytest.raises(CorruptEntry):
        await backend.get(key)
    with pytest.raises(CorruptEntry):
        await backend.get_many([key])
    await backend.aclose()


async def test_entries_signed_with_another_key_are_corrupt(
    memcached_servers: list[MemcachedServer],
) -> None:
    servers = [memcached_servers[0].address]
    writer = MemcachedBackend(servers, signing_key=b"first-signing-key-0123456789")
    reader = MemcachedBackend(servers, signing_key=b"second-signing-key-0123456789")
    key = f"signed:{uuid.uuid4().hex}"
    await writer.set(key, make_value(b"signed"), 60)
    with pytest.raises(CorruptEntry):
        await reader.get(key)
    stored = await writer.get(key)
    assert stored is not None
    assert stored.data == b"signed"
    await writer.aclose()
    await reader.aclose()


async def test_get_many_with_duplicate_keys(memcached_servers: list[MemcachedServer]) -> None:
    backend = MemcachedBackend([s.address for s in memcached_servers])
    key = f"dup:{uuid.uuid4().hex}"
    await backend.set(key, make_value(b"once"), 60)
    results = await backend.get_many([key, "missing-" + key, key])
    assert [r.data if r else None for r in results] == [b"once", None, b"once"]
    await backend.aclose()


async def test_lock_released_by_owner_only_and_reusable(
    memcached_servers: list[MemcachedServer], raw: list[emcache.Client]
) -> None:
    backend = MemcachedBackend([memcached_servers[0].address])
    key = f"lock:{uuid.uuid4().hex}"
    token = await backend.acquire_lock(key, 30)
    assert token
    # The lease lives under its own key: the entry key is untouched.
    assert await raw[0].get(encode_key(key)) is None
    assert await raw[0].get(encode_key(key, kind="l")) is not None
    await backend.release_lock(key, token)
    assert await raw[0].get(encode_key(key, kind="l")) is None
    await backend.release_lock(key, token)  # releasing twice is harmless
    await backend.aclose()


async def test_ping_and_server_stats(memcached_servers: list[MemcachedServer]) -> None:
    backend = MemcachedBackend([s.address for s in memcached_servers])
    assert await backend.ping() is True
    stats = await backend.server_stats()
    assert set(stats) == {s.address for s in memcached_servers}
    assert all("curr_items" in s for s in stats.values())
    await backend.aclose()


def test_backend_reconnects_in_a_new_event_loop(memcached_servers: list[MemcachedServer]) -> None:
    backend = MemcachedBackend([memcached_servers[0].address])
    key = f"loops:{uuid.uuid4().hex}"

    async def write() -> None:
        await backend.set(key, make_value(b"first loop"), 60)

    async def read() -> bytes | None:
        stored = await backend.get(key)
        return None if stored is None else stored.data

    asyncio.run(write())
    assert asyncio.run(read()) == b"first loop"
    asyncio.run(backend.aclose())
