"""ASGI glue: requests from scopes, and running an ASGI app as the cache's upstream.

The key of a request comes from the same scope fields the application routes on — the
scheme, the ``Host`` header (or the server address) and the raw path and query — never
from ``X-Forwarded-*`` fields an application behind it might not use.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote, urlsplit

from hitbox_http._cache_status import CacheStatus
from hitbox_http._headers import Headers
from hitbox_http._models import Request, Response

__all__ = [
    "ASGIApp",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "collect_app_response",
    "has_valid_authority",
    "request_from_scope",
    "scope_for",
    "with_cache_status",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_DEFAULT_PORTS = {"http": 80, "https": 443}


_AUTHORITY = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=%-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{0,5})?")


def has_valid_authority(request: Request) -> bool:
    """Whether the request's ``Host`` is a well-formed ``host[:port]``.

    A client controls ``Host``; a value like ``example.com/x`` or ``example.com#`` would
    make the URL the cache keys on differ from the path the application routes on. Such
    requests are not cached at all.
    """
    host = request.headers.get("host")
    return host is None or _valid_authority(host)


@functools.lru_cache(maxsize=1024)
def _valid_authority(host: str) -> bool:
    # Memoised: a server sees the same few Host values on almost every request.
    if not _AUTHORITY.fullmatch(host):
        return False
    try:
        urlsplit(f"http://{host}/").port  # noqa: B018 - raises ValueError when out of range
    except ValueError:
        return False
    return True


def request_from_scope(scope: Scope) -> Request:
    """The cache's view of an ASGI ``http`` scope."""
    headers = Headers.from_raw(scope.get("headers") or ())
    scheme = scope.get("scheme") or "http"
    host = headers.get("host")
    if not host:
        server = scope.get("server")
        if server:
            name, port = server[0], server[1]
            host = name if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{name}:{port}"
        else:
            host = "localhost"
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else quote(scope.get("path") or "/")
    if "#" in path or "?" in path:
        # Never let the path end early when the URL is parsed for its key: the
        # application routes on all of it.
        path = path.replace("#", "%23").replace("?", "%3F")
    query = scope.get("query_string") or b""
    url = f"{scheme}://{host}{path}"
    if query:
        url += "?" + query.decode("latin-1")
    return Request(scope.get("method", "GET"), url, headers)


def scope_for(scope: Scope, request: Request) -> Scope:
    """``scope`` with the method and headers of ``request`` (what goes upstream)."""
    changed = dict(scope)
    changed["method"] = request.method
    changed["headers"] = request.headers.raw()
    return changed


def with_cache_status(send: Send, status: CacheStatus) -> Send:
    """``send`` with ``status`` appended to the response's ``Cache-Status``."""

    async def marked(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = status.apply(Headers.from_raw(message.get("headers") or ()))
            message = {**message, "headers": headers.raw()}
        await send(message)

    return marked


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def collect_app_response(app: ASGIApp, scope: Scope, request: Request) -> Response:
    """Run ``app`` for ``request`` (no request body) and buffer its whole response.

    Used for background revalidation, where no client is waiting on the stream.
    """
    status = 500
    headers = Headers()
    chunks: list[bytes] = []

    async def send(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers = Headers.from_raw(message.get("headers") or ())
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    await app(scope_for(scope, request), _no_body, send)
    return Response(status, headers, b"".join(chunks))
