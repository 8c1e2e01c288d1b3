"""The gRPC example: a real grpc.aio server and client on loopback, cache in between."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import grpc.aio
import hitbox
import pytest
from google.protobuf.wrappers_pb2 import StringValue
from hitbox_memory import MemoryBackend

from examples.grpc_cache import UnaryCall
from examples.grpc_cache.catalog import GET_PRODUCT, RESERVE, Catalog, start_server
from tests.examples._helpers import until
from tests.observability.conftest import FailingBackend

Call = Callable[..., Awaitable[StringValue]]


@pytest.fixture
def catalog() -> Catalog:
    return Catalog({"sku-1": "a teapot", "sku-2": "a kettle"})


@pytest.fixture
def cache() -> hitbox.Cache:
    return hitbox.Cache(MemoryBackend(max_entries=100), policy={"ttl": 60})


async def serve(
    catalog: Catalog, cache: hitbox.Cache, vary: tuple[str, ...] = ()
) -> AsyncIterator[grpc.aio.Channel]:
    server, port = await start_server(catalog, cache, vary=vary)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(grace=None)


@pytest.fixture
async def channel(catalog: Catalog, cache: hitbox.Cache) -> AsyncIterator[grpc.aio.Channel]:
    async for channel in serve(catalog, cache):
        yield channel


def method(channel: grpc.aio.Channel, name: str) -> Call:
    return channel.unary_unary(
        name,
        request_serializer=StringValue.SerializeToString,
        response_deserializer=StringValue.FromString,
    )


async def test_a_repeated_call_is_served_from_the_cache(
    channel: grpc.aio.Channel, catalog: Catalog, cache: hitbox.Cache
) -> None:
    get_product = method(channel, GET_PRODUCT)
    first = await get_product(StringValue(value="sku-1"))
    second = await get_product(StringValue(value="sku-1"))
    assert first.value == second.value == "sku-1: a teapot (call 1)"
    assert catalog.calls == 1
    assert cache.stats().hits == 1

    other = await get_product(StringValue(value="sku-2"))
    assert other.value == "sku-2: a kettle (call 2)"
    key = UnaryCall(GET_PRODUCT, StringValue(value="sku-1").SerializeToString(), 60).cache_key()
    assert await cache.get(key) == first.SerializeToString()  # stored as wire bytes


async def test_methods_not_listed_are_not_cached(
    channel: grpc.aio.Channel, catalog: Catalog
) -> None:
    reserve = method(channel, RESERVE)
    assert (await reserve(StringValue(value="sku-1"))).value == "reserved sku-1 (call 1)"
    assert (await reserve(StringValue(value="sku-1"))).value == "reserved sku-1 (call 2)"


async def test_error_statuses_are_delivered_and_never_cached(
    channel: grpc.aio.Channel, catalog: Catalog, cache: hitbox.Cache
) -> None:
    get_product = method(channel, GET_PRODUCT)
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
    assert cache.stats().hits == 0


async def test_concurrent_identical_calls_reach_the_servicer_once(
    channel: grpc.aio.Channel, catalog: Catalog, cache: hitbox.Cache
) -> None:
    catalog.gate = asyncio.Event()
    get_product = method(channel, GET_PRODUCT)
    calls = [asyncio.ensure_future(get_product(StringValue(value="sku-1"))) for _ in range(5)]
    await until(lambda: cache.stats().locked == 4)  # one leader, four waiting for it
    catalog.gate.set()
    responses = await asyncio.gather(*calls)
    assert {r.value for r in responses} == {"sku-1: a teapot (call 1)"}
    assert catalog.calls == 1


async def test_vary_metadata_separates_callers(catalog: Catalog, cache: hitbox.Cache) -> None:
    async for channel in serve(catalog, cache, vary=("x-tenant",)):
        get_product = method(channel, GET_PRODUCT)
        request = StringValue(value="sku-1")
        a1 = await get_product(request, metadata=(("x-tenant", "a"),))
        b1 = await get_product(request, metadata=(("x-tenant", "b"),))
        a2 = await get_product(request, metadata=(("x-tenant", "a"),))
        assert a1.value == a2.value == "sku-1: a teapot (call 1)"
        assert b1.value == "sku-1: a teapot (call 2)"


async def test_a_dead_backend_does_not_break_the_service(catalog: Catalog) -> None:
    cache = hitbox.Cache(FailingBackend(), policy={"ttl": 60})
    async for channel in serve(catalog, cache):
        get_product = method(channel, GET_PRODUCT)
        for call in (1, 2):
            response = await get_product(StringValue(value="sku-1"))
            assert response.value == f"sku-1: a teapot (call {call})"
    assert cache.stats().errors > 0
