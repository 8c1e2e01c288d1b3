"""Hitbox HTTP: RFC 9111 caching as a protocol layer over the Hitbox core.

The sans-I/O core (:class:`HttpCacheSpec` with its parsers) decides what to serve,
forward, store, freshen and invalidate; integrations do the I/O.
"""

from __future__ import annotations

from hitbox_http._admin import AdminApp
from hitbox_http._cache_status import CacheStatus
from hitbox_http._config import DEFAULT_HEURISTIC_STATUSES, DEFAULT_UNKEYED_HEADERS, HttpPolicy
from hitbox_http._dates import format_http_date, parse_http_date
from hitbox_http._directives import RequestDirectives, ResponseDirectives
from hitbox_http._edge import DEFAULT_FORWARDING_HEADERS, EdgePolicy
from hitbox_http._engine import Answer, Exchange, HttpCache, Origin, Streamed, UpstreamError
from hitbox_http._fields import EntityTag, parse_age, parse_entity_tag, parse_vary
from hitbox_http._headers import Headers
from hitbox_http._middleware import CacheMiddleware
from hitbox_http._models import Request, Response, StoredResponse
from hitbox_http._proxy import CachingProxy
from hitbox_http._routes import (
    KeyPart,
    Predicate,
    Route,
    RouteRequest,
    body_hash,
    header,
    header_value,
    method,
    path,
    path_param,
    query,
    query_param,
)
from hitbox_http._spec import Forward, Hit, HttpCacheSpec, ResponsePlan
from hitbox_http._transport import AsyncCacheTransport

__version__ = "0.1.0"

__all__ = [
    "AdminApp",
    "Answer",
    "AsyncCacheTransport",
    "CacheMiddleware",
    "CacheStatus",
    "CachingProxy",
    "DEFAULT_FORWARDING_HEADERS",
    "DEFAULT_HEURISTIC_STATUSES",
    "DEFAULT_UNKEYED_HEADERS",
    "EdgePolicy",
    "EntityTag",
    "Exchange",
    "Forward",
    "Headers",
    "Hit",
    "HttpCache",
    "HttpCacheSpec",
    "HttpPolicy",
    "KeyPart",
    "Origin",
    "Predicate",
    "Request",
    "RequestDirectives",
    "Response",
    "ResponseDirectives",
    "ResponsePlan",
    "Route",
    "RouteRequest",
    "StoredResponse",
    "Streamed",
    "UpstreamError",
    "__version__",
    "body_hash",
    "format_http_date",
    "header",
    "header_value",
    "method",
    "parse_age",
    "parse_entity_tag",
    "parse_http_date",
    "parse_vary",
    "path",
    "path_param",
    "query",
    "query_param",
]
