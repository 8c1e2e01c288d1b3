"""The protocol-agnostic request: anything that can name its cache key and TTL."""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol, TypeVar, runtime_checkable

__all__ = ["CacheableRequest", "ResponseT"]

ResponseT = TypeVar("ResponseT", covariant=True)


@runtime_checkable
class CacheableRequest(Protocol[ResponseT]):
    """A request the cache can serve: HTTP, gRPC, a custom binary protocol, a function call.

    The type parameter is the response type the upstream produces; :meth:`hitbox.Cache.fetch`
    restores cached responses as that type when the request says which (see
    ``response_type``).
    """

    def cache_key(self) -> str:
        """The key under which the response is stored."""
        ...

    def cache_ttl(self) -> float | timedelta:
        """How long the response stays fresh."""
        ...
