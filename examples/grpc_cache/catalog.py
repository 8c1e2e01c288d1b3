"""A demo gRPC service and server with the caching interceptor in front of it.

The service, ``demo.Catalog``, is registered with a generic handler and protobuf's
well-known ``StringValue`` messages, so no ``.proto`` compilation is needed:

* ``GetProduct(sku) -> description``: cached (:data:`METHODS`: fresh for 30 seconds,
  then served stale for 5 minutes while one background call refreshes it);
* ``Reserve(sku) -> confirmation``: a write, never cached (not in :data:`METHODS`).

An unknown SKU answers ``NOT_FOUND`` (set on the context, not cached) and an empty one
aborts with ``INVALID_ARGUMENT``. Run ``python -m examples.grpc_cache.catalog`` for a
demonstration on loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
import hitbox
from google.protobuf.wrappers_pb2 import StringValue

from .interceptor import CachingInterceptor, Methods

__all__ = ["GET_PRODUCT", "METHODS", "RESERVE", "Catalog", "start_server"]

SERVICE = "demo.Catalog"
GET_PRODUCT = f"/{SERVICE}/GetProduct"
RESERVE = f"/{SERVICE}/Reserve"
METHODS: Methods = {GET_PRODUCT: {"ttl": 30, "max_stale": 300}}
"""The methods the demo caches, with their TTL and stale window."""


class Catalog:
    """The servicer: a dictionary of products, counting the calls it really serves."""

    def __init__(self, products: dict[str, str]) -> None:
        self.products = products
        self.calls = 0
        self.gate: asyncio.Event | None = None  # tests hold calls here to pile them up
        self.contexts: list[Any] = []  # the context of each call (tests look at refreshes)

    async def get_product(
        self, request: StringValue, context: grpc.aio.ServicerContext[Any, Any]
    ) -> StringValue:
        self.calls += 1
        self.contexts.append(context)
        if self.gate is not None:
            await self.gate.wait()
        if not request.value:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "sku must not be empty")
        description = self.products.get(request.value)
        if description is None:
            context.set_code(grpc.StatusCode.NOT_FOUND)
            context.set_details(f"no product {request.value!r}")
            return StringValue()
        return StringValue(value=f"{request.value}: {description} (call {self.calls})")

    async def reserve(
        self, request: StringValue, context: grpc.aio.ServicerContext[Any, Any]
    ) -> StringValue:
        self.calls += 1
        return StringValue(value=f"reserved {request.value} (call {self.calls})")

    def handler(self) -> grpc.GenericRpcHandler:
        """The service's generic handler (what generated ``add_..._to_server`` builds)."""

        def unary(method: Callable[..., Awaitable[StringValue]]) -> grpc.RpcMethodHandler[Any, Any]:
            return grpc.unary_unary_rpc_method_handler(
                method,
                request_deserializer=StringValue.FromString,
                response_serializer=StringValue.SerializeToString,
            )

        return grpc.method_handlers_generic_handler(
            SERVICE, {"GetProduct": unary(self.get_product), "Reserve": unary(self.reserve)}
        )


async def start_server(
    catalog: Catalog, interceptor: CachingInterceptor
) -> tuple[grpc.aio.Server, int]:
    """Serve ``catalog`` on a free loopback port behind ``interceptor``; (server, port)."""
    server = grpc.aio.server(interceptors=[interceptor])
    server.add_generic_rpc_handlers([catalog.handler()])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


async def _demo() -> None:
    catalog = Catalog({"sku-1": "a teapot"})
    async with hitbox.Cache("memory", name="catalog") as cache:
        interceptor = CachingInterceptor(cache, METHODS)
        server, port = await start_server(catalog, interceptor)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            get_product = channel.unary_unary(
                GET_PRODUCT,
                request_serializer=StringValue.SerializeToString,
                response_deserializer=StringValue.FromString,
            )
            for _ in range(3):
                response = await get_product(StringValue(value="sku-1"))
                print(response.value)
        await server.stop(grace=None)
        await interceptor.aclose()
        print(interceptor.stats())


if __name__ == "__main__":
    asyncio.run(_demo())
