"""A gRPC protocol layer on :mod:`hitbox.engine`: a ``grpc.aio`` interceptor for unary RPCs.

One :class:`~hitbox.engine.Engine`, built with the :class:`~.adapter.GrpcIo` adapter, runs
every cached RPC as a :class:`~hitbox.engine.Call` and brings single flight,
stale-while-revalidate, fail-open, counters and one ``hitbox_cache_event`` per RPC
(operation ``"grpc"``); this module only speaks gRPC.

The key is the method plus a digest of the request as it came off the wire and of the
``vary`` metadata values (a tenant, say: one caller's answer never reaches another). A
servicer's error is its caller's answer, never cached: ``context.abort(...)`` raises
through the engine to gRPC; a non-OK ``context.set_code(...)`` is neither stored nor
handed to the RPCs waiting for it (they ask the servicer themselves). A background
refresh runs after its RPC was answered: the servicer gets a :class:`RefreshContext`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NoReturn, final

import grpc
import grpc.aio
import hitbox
from hitbox.engine import Call, Engine

from .adapter import GrpcIo, Reply, cache_key, ok

__all__ = ["CachingInterceptor", "Methods", "RefreshContext"]

Methods = Mapping[str, float | Mapping[str, Any]]
"""Full method name (``"/pkg.Service/Method"``) -> its TTL, or policy fields to merge
(``{"ttl": 30, "max_stale": 300}``)."""


@final
class RefreshContext:
    """The servicer's context in a background refresh: the original RPC's metadata, peer
    and the like (delegated), but a status of its own; ``abort`` ends the refresh only."""

    def __init__(self, rpc: grpc.aio.ServicerContext[Any, Any]) -> None:
        self.rpc = rpc
        self._code: grpc.StatusCode | None = None
        self._details: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rpc, name)

    def set_code(self, code: grpc.StatusCode) -> None:
        """Set the status (non-OK: the answer is not stored)."""
        self._code = code

    def code(self) -> grpc.StatusCode | None:
        """The status set so far."""
        return self._code

    def set_details(self, details: str) -> None:
        """Set the status details."""
        self._details = details

    def details(self) -> str | None:
        """The status details set so far."""
        return self._details

    async def abort(self, code: grpc.StatusCode, details: str = "", *_: Any) -> NoReturn:
        """End the refresh: nothing is stored, the stale entry stays."""
        raise grpc.aio.AbortError(f"refresh aborted: {code.name} {details}".strip())


@final
class _Rpc:
    """One RPC as the adapter sees it (``Call.context``)."""

    __slots__ = ("answered", "context")

    def __init__(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self.context, self.answered = context, False


class CachingInterceptor(grpc.aio.ServerInterceptor):
    """Serve the unary methods in ``methods`` (see :data:`Methods`) through one engine.

    ``backend`` is a :class:`hitbox.Backend` (closed by :meth:`aclose`) or a
    :class:`hitbox.Cache`, whose backend, policy, clock, plugins, name and circuit breaker
    the engine shares; the counters are the interceptor's own (:meth:`stats`). ``vary``
    names the metadata keys whose values are part of the key.
    """

    # --8<-- [start:engine]
    def __init__(
        self, backend: hitbox.Backend | hitbox.Cache, methods: Methods, *, vary: Sequence[str] = ()
    ) -> None:
        guard, policy = None, hitbox.Policy()
        options: dict[str, Any] = {"name": "grpc"}
        if isinstance(backend, hitbox.Cache):  # its settings, and one breaker for one backend
            cache, guard, policy = backend, backend.engine.guard, backend.policy
            options = {"clock": cache.clock, "plugins": cache.plugins, "name": cache.name}
            backend = cache.backend
        self.owns_backend = guard is None
        self.engine = Engine(backend, GrpcIo, policy=policy, guard=guard, **options)
        self.policies = {method: _policy(policy, method, spec) for method, spec in methods.items()}
        self.vary = tuple(key.lower() for key in vary)

    # --8<-- [end:engine]

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        """The method's handler, wrapped when the method is listed and unary-unary."""
        handler = await continuation(handler_call_details)
        policy = self.policies.get(handler_call_details.method)
        if policy is None or handler is None or handler.unary_unary is None:
            return handler  # not listed, unknown or streaming: untouched
        return self._cached(handler, handler_call_details.method, policy)

    # --8<-- [start:serve]
    def _cached(self, handler: Any, method: str, policy: hitbox.Policy) -> Any:
        behavior = handler.unary_unary
        decode = handler.request_deserializer or _identity
        encode = handler.response_serializer or _identity

        async def serve(payload: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
            rpc = _Rpc(context)

            async def upstream() -> Reply:
                # Once an entry answered this RPC (GrpcIo.decode), a call here is its
                # stale entry's background refresh: the RPC's own context is finished.
                servicer_context: Any = RefreshContext(context) if rpc.answered else context
                response = behavior(decode(payload), servicer_context)
                if inspect.isawaitable(response):
                    response = await response
                status = servicer_context.code()
                return Reply(encode(response), status in (None, grpc.StatusCode.OK))

            metadata = dict(context.invocation_metadata() or ())
            key = cache_key(method, payload, [metadata.get(name, "") for name in self.vary])
            reply: Reply = await self.engine.execute(
                Call(key, policy, upstream, operation="grpc", context=rpc)
            )
            return reply.data

        # No (de)serializers: the wrapper sees and returns wire bytes.
        return grpc.unary_unary_rpc_method_handler(serve)

    # --8<-- [end:serve]

    def stats(self) -> hitbox.Stats:
        """This interceptor's counters since creation."""
        return self.engine.stats()

    async def aclose(self) -> None:
        """Stop background refreshes and probes; close the backend if it was given bare
        (a shared :class:`hitbox.Cache` keeps its backend and its breaker)."""
        await self.engine.aclose(close_backend=self.owns_backend)


def _policy(base: hitbox.Policy, method: str, spec: float | Mapping[str, Any]) -> hitbox.Policy:
    overrides: dict[str, Any] = dict(spec) if isinstance(spec, Mapping) else {"ttl": spec}
    overrides.update(stale_if_error=0.0, cacheable=ok)  # see GrpcIo.usable_on_error
    try:
        return base.merged(**overrides)
    except hitbox.ConfigError as exc:
        raise hitbox.ConfigError(f"methods[{method!r}]: {exc}", field=method) from None


def _identity(data: Any) -> Any:
    return data
