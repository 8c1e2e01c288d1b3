"""The glue: a ``grpc.aio`` server interceptor that caches unary-unary responses.

Only the methods listed in ``ttls`` are cached. The key is the full method name plus a
digest of the request exactly as it came off the wire, and of the values of the ``vary``
metadata keys (e.g. a tenant header: never share one caller's answer with another).
Responses are cached as the bytes the servicer's serializer produced, so a hit runs no
protobuf code at all.

A servicer's error is never cached: ``context.abort(...)`` raises through the cache to
gRPC, and a response sent with a non-OK ``context.set_code(...)`` reaches its caller but
is not stored. Stale-while-revalidate (``max_stale``) refreshes call the servicer after
the original RPC is over, with that RPC's context: leave ``max_stale`` at 0 for servicers
that read their context.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, final

import grpc
import grpc.aio
import hitbox

__all__ = ["CachingInterceptor", "UnaryCall"]


@final
class UnaryCall:
    """One unary RPC as a :class:`hitbox.CacheableRequest`."""

    __slots__ = ("method", "payload", "ttl", "vary")

    def __init__(self, method: str, payload: bytes, ttl: float, vary: Sequence[str] = ()) -> None:
        self.method, self.payload, self.ttl, self.vary = method, payload, ttl, vary

    def cache_key(self) -> str:
        digest = hashlib.blake2b(self.payload, digest_size=16)
        for value in self.vary:  # length-prefixed: ("ab", "c") and ("a", "bc") differ
            digest.update(len(value).to_bytes(4, "big") + value.encode())
        return f"grpc:{self.method}:{digest.hexdigest()}"

    def cache_ttl(self) -> float:
        return self.ttl


class _NotCacheable(Exception):  # noqa: N818 - a signal, not an error
    """The servicer answered with a non-OK status: deliver, do not store."""

    def __init__(self, response: bytes) -> None:
        self.response = response


def _identity(data: Any) -> Any:
    return data


class CachingInterceptor(grpc.aio.ServerInterceptor):
    """Serve the unary methods in ``ttls`` (full name -> seconds) through ``cache``."""

    def __init__(
        self, cache: hitbox.Cache, ttls: Mapping[str, float], *, vary: Sequence[str] = ()
    ) -> None:
        self.cache, self.ttls, self.vary = cache, dict(ttls), tuple(key.lower() for key in vary)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        ttl = self.ttls.get(handler_call_details.method)
        if ttl is None or handler is None or handler.unary_unary is None:
            return handler  # not listed, unknown or streaming: untouched
        return self._cached(handler, handler_call_details.method, ttl)

    def _cached(self, handler: Any, method: str, ttl: float) -> grpc.RpcMethodHandler[Any, Any]:
        behavior = handler.unary_unary
        decode = handler.request_deserializer or _identity
        encode = handler.response_serializer or _identity

        async def serve(payload: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            metadata = dict(context.invocation_metadata() or ())
            vary = [str(metadata.get(key, "")) for key in self.vary]

            async def upstream(call: UnaryCall) -> bytes:
                response = behavior(decode(call.payload), context)
                if inspect.isawaitable(response):
                    response = await response
                data: bytes = encode(response)
                if context.code() not in (None, grpc.StatusCode.OK):
                    raise _NotCacheable(data)
                return data

            try:
                return await self.cache.fetch(UnaryCall(method, payload, ttl, vary), upstream)
            except _NotCacheable as refused:
                return refused.response

        # No (de)serializers: the wrapper sees and returns wire bytes.
        return grpc.unary_unary_rpc_method_handler(serve)
