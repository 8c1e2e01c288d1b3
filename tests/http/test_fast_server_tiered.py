"""`hitbox proxy`'s own server over a tiered backend (memory L1 + SQLite or Redis L2):
the same answers as under uvicorn, and L1 hits answered in place — also for responses
another process stored, once a first hit has read them from L2 into L1."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import hitbox
import httpx
import pytest
from hitbox.keys import DefaultKeyStrategy
from hitbox.serializers import CborSerializer
from hitbox.tiered import TieredBackend
from hitbox_http import HttpCache, HttpPolicy
from hitbox_http._proxy import CachingProxy
from hitbox_memory import MemoryBackend
from hitbox_sqlite import SQLiteBackend

from tests.http.servers import serve
from tests.http.test_fast_server import (
    EXCHANGES,
    CountingOrigin,
    _count_answers_now,
    _run_exchanges,
    _seen,
)
from tests.redis.conftest import redis_server  # noqa: F401 - the shared Redis fixture
from tests.redis_servers import RedisServer

pytestmark = pytest.mark.services

MakeL2 = Callable[[hitbox.ManualClock, str], hitbox.Backend]
"""``make_l2(clock, store)``: a new client of the L2 store named ``store`` (one per name)."""
_databases = itertools.count(1)


@pytest.fixture(params=["sqlite", "redis"])
def make_l2(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeL2]:
    """Clients of L2 stores: SQLite files, or Redis databases of their own."""
    if request.param == "sqlite":
        yield lambda clock, store: SQLiteBackend(str(tmp_path / f"{store}.db"), clock=clock)
        return
    from hitbox_redis import RedisBackend

    server: RedisServer = request.getfixturevalue("redis_server")
    base = server.url.removesuffix("/0")
    databases: dict[str, int] = {}

    def client(clock: hitbox.ManualClock, store: str) -> hitbox.Backend:
        database = databases.setdefault(store, next(_databases))
        return RedisBackend.from_url(f"{base}/{database}")

    yield client


def tiered_cache(clock: hitbox.ManualClock, l2: hitbox.Backend) -> hitbox.Cache:
    backend = TieredBackend([MemoryBackend(clock=clock), l2], clock=clock)
    return hitbox.Cache(
        backend, serializer=CborSerializer(), key_strategy=DefaultKeyStrategy(), clock=clock
    )


async def test_both_servers_answer_the_same_over_a_tiered_backend(make_l2: MakeL2) -> None:
    stores = (f"run-{index}" for index in itertools.count())

    def over_tiered(clock: hitbox.ManualClock) -> hitbox.Cache:
        return tiered_cache(clock, make_l2(clock, next(stores)))

    under_h11, h11_stats, _ = await _run_exchanges("h11", over_tiered)
    fast, fast_stats, fast_now = await _run_exchanges("fast", over_tiered)
    on_memory, _, memory_now = await _run_exchanges("fast")
    for index, (expected, got) in enumerate(zip(under_h11, fast, strict=True)):
        assert got == expected, (index, EXCHANGES[index][:2])
    assert fast == on_memory  # the backend changes nothing a client sees
    assert fast_stats == h11_stats
    assert fast_now == memory_now == 11  # this process stored them: L1 hits, in place


async def test_a_response_another_process_stored_is_answered_in_place(make_l2: MakeL2) -> None:
    clock = hitbox.ManualClock()
    origin = CountingOrigin()
    # A variant (the index and the response are both read), under one Host for both
    # proxies (each listens on a port of its own).
    gzip = {"accept-encoding": "gzip", "host": "cache.test"}
    with serve(origin) as upstream:
        writer = CachingProxy(
            upstream, HttpCache(tiered_cache(clock, make_l2(clock, "shared")), HttpPolicy())
        )
        with serve(writer, http="fast") as url:
            async with httpx.AsyncClient(base_url=url) as client:
                stored = _seen(await client.get("/vary", headers=gzip))
        reader = CachingProxy(
            upstream, HttpCache(tiered_cache(clock, make_l2(clock, "shared")), HttpPolicy())
        )
        answered_now = _count_answers_now(reader)
        with serve(reader, http="fast") as url:
            async with httpx.AsyncClient(base_url=url) as client:
                seen = [_seen(await client.get("/vary", headers=gzip)) for _ in range(4)]
        await reader.aclose()
        await writer.aclose()
    assert len(origin.calls) == 1  # the reader never asked the origin
    assert [body for _, _, body in seen] == [stored[2]] * 4
    # The first read comes from L2 (the async path refills L1); the rest are in place.
    assert answered_now() == 3
    assert reader.cache.stats().hits == 4
