"""The gRPC protocol layer: a real grpc.aio server and client on loopback, the engine between.

The interceptor is built over a ``hitbox.Cache`` with a manual clock (entries go stale only
when a test advances it) and a plugin manager recording every ``hitbox_cache_event``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import grpc.aio
import hitbox
import pytest
from google.protobuf.wrappers_pb2 import StringValue
from hitbox import ManualClock, State
from hitbox.keys import DefaultKeyStrategy
from hitbox.serializers import CborSerializer
from hitbox_memory import MemoryBackend

from examples.grpc_cache import CachingInterceptor, RefreshContext, cache_key
from examples.grpc_cache.catalog import GET_PRODUCT, RESERVE, Catalog, start_server
from tests.core._cache_fakes import DictBackend, EventRecorder, LockingDictBackend, plugin_manager
from tests.examples._helpers import until
from tests.observability.conftest import FailingBackend

Rpc = Callable[..., Awaitable[StringValue]]

MISS = (State.PENDING, State.MISS, State.RESPONSE)
WAITED = (State.PENDING, State.MISS, State.LOCKED, State.RESPONSE)
HIT = (State.PENDING, State.HIT, State.RESPONSE)
STALE = (State.PENDING, State.STALE, State.RESPONSE)
ERROR = (State.PENDING, State.ERROR, State.RESPONSE)
REFRESH = (State.MISS, State.RESPONSE)

SKU_1 = StringValue(value="sku-1")


def isolated(backend: hitbox.Backend, recorder: EventRecorder, **options: Any) -> hitbox.Cache:
    """A cache whose events go to ``recorder`` only (no process-wide plugins)."""
    return hitbox.Cache(
        backend,
        serializer=CborSerializer(),
        key_strategy=DefaultKeyStrategy(),
        plugins=plugin_manager(recorder),
        **options,
    )


@pytest.fixture
def catalog() -> Catalog:
    return Catalog({"sku-1": "a teapot", "sku-2": "a kettle"})


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def recorder() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
def backend(clock: ManualClock) -> MemoryBackend:
    return MemoryBackend(max_entries=100, clock=clock)


@pytest.fixture
def cache(backend: MemoryBackend, clock: ManualClock, recorder: EventRecorder) -> hitbox.Cache:
    return isolated(backend, recorder, clock=clock, name="catalog")


@pytest.fixture
async def interceptor(cache: hitbox.Cache) -> AsyncIterator[CachingInterceptor]:
    interceptor = CachingInterceptor(cache, {GET_PRODUCT: {"ttl": 30, "max_stale": 60}})
    yield interceptor
    await interceptor.aclose()


@asynccontextmanager
async def serving(
    catalog: Catalog, interceptor: CachingInterceptor
) -> AsyncIterator[grpc.aio.Channel]:
    server, port = await start_server(catalog, interceptor)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(grace=None)


@pytest.fixture
async def get_product(catalog: Catalog, interceptor: CachingInterceptor) -> AsyncIterator[Rpc]:
    async with serving(catalog, interceptor) as channel:
        yield method(channel, GET_PRODUCT)


def method(channel: grpc.aio.Channel, name: str) -> Rpc:
    return channel.unary_unary(
        name,
        request_serializer=StringValue.SerializeToString,
        response_deserializer=StringValue.FromString,
    )


async def stored(backend: hitbox.Backend, request: StringValue) -> bytes | None:
    entry = await backend.get(cache_key(GET_PRODUCT, request.SerializeToString()))
    return None if entry is None else entry.data


async def test_a_repeated_call_is_a_hit_stored_as_wire_bytes(
    get_product: Rpc,
    catalog: Catalog,
    interceptor: CachingInterceptor,
    backend: MemoryBackend,
    clock: ManualClock,
    recorder: EventRecorder,
) -> None:
    first = await get_product(SKU_1)
    second = await get_product(SKU_1)
    assert first.value == second.value == "sku-1: a teapot (call 1)"
    assert catalog.calls == 1
    other = await get_product(StringValue(value="sku-2"))
    assert other.value == "sku-2: a kettle (call 2)"

    stats = interceptor.stats()
    assert (stats.hits, stats.misses, stats.upstream_calls) == (1, 2, 2)
    assert recorder.paths("grpc") == [MISS, HIT, MISS]
    event = recorder.events[0]
    assert event.cache == "catalog"
    assert event.key == cache_key(GET_PRODUCT, SKU_1.SerializeToString())
    entry = await backend.get(event.key)
    assert entry is not None
    assert entry.data == first.SerializeToString()  # a hit deserializes nothing
    assert (entry.fresh_until, entry.stale_until) == (clock.now() + 30, clock.now() + 90)


async def test_methods_not_listed_are_not_cached(
    catalog: Catalog, interceptor: CachingInterceptor, recorder: EventRecorder
) -> None:
    async with serving(catalog, interceptor) as channel:
        reserve = method(channel, RESERVE)
        assert (await reserve(SKU_1)).value == "reserved sku-1 (call 1)"
        assert (await reserve(SKU_1)).value == "reserved sku-1 (call 2)"
    assert recorder.events == []


async def test_concurrent_identical_calls_reach_the_servicer_once(
    get_product: Rpc,
    catalog: Catalog,
    interceptor: CachingInterceptor,
    recorder: EventRecorder,
) -> None:
    catalog.gate = asyncio.Event()
    calls = [asyncio.ensure_future(get_product(SKU_1)) for _ in range(5)]
    await until(lambda: interceptor.stats().locked == 4)  # one leader, four waiting for it
    catalog.gate.set()
    responses = await asyncio.gather(*calls)
    assert {r.value for r in responses} == {"sku-1: a teapot (call 1)"}
    assert catalog.calls == 1
    assert sorted(recorder.paths("grpc"), key=len) == [MISS] + [WAITED] * 4


async def test_a_stale_entry_is_served_at_once_and_refreshed_once_in_the_background(
    get_product: Rpc,
    catalog: Catalog,
    interceptor: CachingInterceptor,
    backend: MemoryBackend,
    clock: ManualClock,
    recorder: EventRecorder,
) -> None:
    await get_product(SKU_1, metadata=(("x-tenant", "a"),))
    await clock.advance(40)  # past the ttl (30), within max_stale (60)
    catalog.gate = asyncio.Event()  # the refresh waits here: nobody else may

    for _ in range(2):
        stale = await get_product(SKU_1, metadata=(("x-tenant", "b"),))
        assert stale.value == "sku-1: a teapot (call 1)"
    await until(lambda: catalog.calls == 2)
    assert interceptor.stats().refreshes == 1  # the second stale answer started none

    catalog.gate.set()
    await until(lambda: recorder.paths("refresh") == [REFRESH])
    assert (
        await stored(backend, SKU_1)
        == StringValue(value="sku-1: a teapot (call 2)").SerializeToString()
    )
    assert (await get_product(SKU_1)).value == "sku-1: a teapot (call 2)"
    assert catalog.calls == 2
    assert recorder.paths("grpc") == [MISS, STALE, STALE, HIT]

    # The refresh ran after its RPC was answered: it had a context of its own, carrying
    # that RPC's metadata.
    refresh_context = catalog.contexts[1]
    assert isinstance(refresh_context, RefreshContext)
    assert ("x-tenant", "b") in tuple(refresh_context.invocation_metadata())


async def test_a_refresh_answering_an_error_keeps_the_stale_entry(
    get_product: Rpc,
    catalog: Catalog,
    interceptor: CachingInterceptor,
    backend: MemoryBackend,
    clock: ManualClock,
    recorder: EventRecorder,
) -> None:
    first = await get_product(SKU_1)
    await clock.advance(40)
    del catalog.products["sku-1"]  # the refresh answers NOT_FOUND on its own context
    assert (await get_product(SKU_1)).value == first.value
    await until(lambda: recorder.paths("refresh") == [REFRESH])
    assert catalog.calls == 2
    assert await stored(backend, SKU_1) == first.SerializeToString()
    assert (await get_product(SKU_1)).value == first.value  # still stale, refreshed again
    await until(lambda: len(recorder.paths("refresh")) == 2)


async def test_error_statuses_are_delivered_and_never_cached(
    get_product: Rpc,
    catalog: Catalog,
    backend: MemoryBackend,
    recorder: EventRecorder,
) -> None:
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await get_product(StringValue(value="sku-404"))
        assert missing.value.code() is grpc.StatusCode.NOT_FOUND
        assert missing.value.details() == "no product 'sku-404'"
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await get_product(StringValue(value=""))
        assert invalid.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert catalog.calls == 4
    # The server's interceptor reports a run after its status went out: the client can
    # see the last error before its event is recorded.
    await until(lambda: len(recorder.paths("grpc")) == 4)
    assert recorder.paths("grpc") == [MISS] * 4
    aborted = recorder.events[2]
    assert aborted.upstream_error is not None
    assert "AbortError" in aborted.upstream_error
    assert await stored(backend, StringValue(value="sku-404")) is None
    assert await stored(backend, StringValue(value="")) is None


async def test_waiters_never_receive_a_leaders_error_status(
    get_product: Rpc, catalog: Catalog, interceptor: CachingInterceptor
) -> None:
    catalog.gate = asyncio.Event()
    request = StringValue(value="sku-404")
    calls = [asyncio.ensure_future(get_product(request)) for _ in range(3)]
    await until(lambda: interceptor.stats().locked == 2)
    catalog.gate.set()
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(o, grpc.aio.AioRpcError) for o in outcomes)
    assert {o.code() for o in outcomes if isinstance(o, grpc.aio.AioRpcError)} == {
        grpc.StatusCode.NOT_FOUND
    }
    assert catalog.calls == 3  # each waiter asked the servicer itself


async def test_vary_metadata_separates_callers(catalog: Catalog, cache: hitbox.Cache) -> None:
    interceptor = CachingInterceptor(cache, {GET_PRODUCT: 30}, vary=("X-Tenant",))
    async with serving(catalog, interceptor) as channel:
        get_product = method(channel, GET_PRODUCT)
        a1 = await get_product(SKU_1, metadata=(("x-tenant", "a"),))
        b1 = await get_product(SKU_1, metadata=(("x-tenant", "b"),))
        a2 = await get_product(SKU_1, metadata=(("x-tenant", "a"),))
        assert a1.value == a2.value == "sku-1: a teapot (call 1)"
        assert b1.value == "sku-1: a teapot (call 2)"
    await interceptor.aclose()


async def test_a_dead_backend_does_not_break_the_service(
    catalog: Catalog, recorder: EventRecorder
) -> None:
    cache = isolated(FailingBackend(), recorder)
    interceptor = CachingInterceptor(cache, {GET_PRODUCT: 60})
    async with serving(catalog, interceptor) as channel:
        get_product = method(channel, GET_PRODUCT)
        for call in (1, 2):
            response = await get_product(SKU_1)
            assert response.value == f"sku-1: a teapot (call {call})"
    assert interceptor.stats().errors == 2
    assert recorder.paths("grpc") == [ERROR, ERROR]
    assert recorder.events[0].error is not None
    assert "connection refused" in recorder.events[0].error
    await interceptor.aclose()


async def test_over_a_cache_one_breaker_and_closing_leaves_the_cache_working(
    cache: hitbox.Cache, interceptor: CachingInterceptor
) -> None:
    assert interceptor.engine.guard.breaker is cache.engine.guard.breaker
    await interceptor.aclose()
    assert cache.breaker_state == "closed"
    await cache.set("k", 1)
    assert await cache.get("k") == 1


async def test_over_a_bare_backend_it_owns_and_closes_it(catalog: Catalog) -> None:
    backend = DictBackend()
    interceptor = CachingInterceptor(backend, {GET_PRODUCT: 60})
    async with serving(catalog, interceptor) as channel:
        get_product = method(channel, GET_PRODUCT)
        assert (await get_product(SKU_1)).value == (await get_product(SKU_1)).value
    assert catalog.calls == 1
    assert interceptor.engine.name == "grpc"
    await interceptor.aclose()
    assert backend.closed


async def test_processes_sharing_a_locking_backend_call_the_servicer_once(
    catalog: Catalog,
) -> None:
    store: dict[str, tuple[hitbox.CachedValue, float]] = {}
    locks: dict[str, tuple[str, float]] = {}
    policy = {"lock": "distributed", "lock_timeout": 60}
    caches = [
        isolated(LockingDictBackend(store=store, locks=locks), EventRecorder(), policy=policy)
        for _ in "ab"
    ]
    layers = [CachingInterceptor(cache, {GET_PRODUCT: 60}) for cache in caches]
    catalog.gate = asyncio.Event()
    async with serving(catalog, layers[0]) as first, serving(catalog, layers[1]) as second:
        leader = asyncio.ensure_future(method(first, GET_PRODUCT)(SKU_1))
        await until(lambda: catalog.calls == 1)  # process a holds the backend's lock
        poller = asyncio.ensure_future(method(second, GET_PRODUCT)(SKU_1))
        await until(lambda: layers[1].stats().locked == 1)  # process b polls for the value
        catalog.gate.set()
        responses = await asyncio.gather(leader, poller)
    assert {r.value for r in responses} == {"sku-1: a teapot (call 1)"}
    assert catalog.calls == 1
    assert locks == {}  # released
    for layer in layers:
        await layer.aclose()


def test_a_bad_method_setting_is_one_line_naming_the_method(cache: hitbox.Cache) -> None:
    with pytest.raises(
        hitbox.ConfigError, match=r"^methods\['/demo.Catalog/GetProduct'\]: policy.ttl"
    ):
        CachingInterceptor(cache, {GET_PRODUCT: {"ttl": -1}})
