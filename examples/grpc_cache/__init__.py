"""A gRPC unary cache built on Hitbox: a ``grpc.aio`` server interceptor.

Hitbox knows nothing about gRPC. The interceptor turns a unary call into a
:class:`hitbox.CacheableRequest` (method + serialized request bytes) and lets
:meth:`hitbox.Cache.fetch` decide hit, stale, miss or wait, exactly as the HTTP layer does
for HTTP requests. See ``interceptor.py`` (the glue) and ``catalog.py`` (a demo service).
"""

from __future__ import annotations

from .interceptor import CachingInterceptor, UnaryCall

__all__ = ["CachingInterceptor", "UnaryCall"]
