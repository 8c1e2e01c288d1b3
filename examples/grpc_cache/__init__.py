"""A gRPC unary cache: a protocol layer written on :mod:`hitbox.engine` alone.

``adapter.py`` is the engine's side (:class:`GrpcIo`: entries of serialized responses,
through the engine's guard); ``interceptor.py`` is the gRPC side (a ``grpc.aio`` server
interceptor turning each listed unary RPC into a :class:`hitbox.engine.Call`);
``catalog.py`` is a demo service. See ``docs/write-a-protocol-layer.md``.
"""

from __future__ import annotations

from .adapter import GrpcIo, Reply, cache_key
from .interceptor import CachingInterceptor, Methods, RefreshContext

__all__ = ["CachingInterceptor", "GrpcIo", "Methods", "RefreshContext", "Reply", "cache_key"]
