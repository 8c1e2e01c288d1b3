"""Responses framed with ``Transfer-Encoding`` are relayed and stored, never turned into a
502; the hop-by-hop framing fields are not stored (RFC 9112 §6, RFC 9110 §7.6.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import hitbox
import httpx
import pytest
from hitbox_http import CacheMiddleware, HttpCache, HttpPolicy, Request
from hitbox_http._proxy import CachingProxy
from hitbox_memory import MemoryBackend
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import StreamingResponse
from starlette.routing import Route as StarletteRoute

from tests.http.asgi_apps import client
from tests.http.servers import BadOrigin, serve

FRAMING = ("transfer-encoding", "trailer", "te", "connection")


@pytest.mark.services
@pytest.mark.parametrize(
    ("target", "body"),
    [("/chunked", b"abcdef"), ("/chunked-trailer", b"abc"), ("/chunked-and-length", b"abc")],
)
async def test_proxy_relays_and_stores_chunked_responses(target: str, body: bytes) -> None:
    cache = HttpCache(MemoryBackend(), HttpPolicy())
    with BadOrigin() as bad, serve(CachingProxy(bad, cache, timeout=5)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            first = await http.get(target)
            second = await http.get(target)
        found = await cache.store.lookup(Request("GET", url + target))
    assert first.status_code == second.status_code == 200
    assert first.content == second.content == body
    assert first.headers["cache-status"].endswith("stored")
    assert second.headers["cache-status"].startswith("hitbox; hit")
    # The origin's Content-Length (100) lost to Transfer-Encoding: never relayed.
    assert first.headers.get("content-length") in (None, str(len(body)))
    assert second.headers["content-length"] == str(len(body))
    (stored,) = found.responses
    assert not set(FRAMING) & stored.headers.names()
    assert stored.headers.get("content-length") == str(len(body))


async def test_middleware_stores_a_streamed_response_without_its_framing() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"ab", b"cd", b"ef"):
            yield part

    async def page(request: StarletteRequest) -> StreamingResponse:
        return StreamingResponse(
            chunks(), headers={"cache-control": "max-age=60", "transfer-encoding": "chunked"}
        )

    app = Starlette(routes=[StarletteRoute("/", page)])
    middleware = CacheMiddleware(app, cache=hitbox.Cache(MemoryBackend()))
    async with client(middleware) as http:
        first = await http.get("/")
        second = await http.get("/")
    found = await middleware.http.store.lookup(Request("GET", "http://testserver/"))
    assert first.content == second.content == b"abcdef"
    assert second.headers["cache-status"].startswith("hitbox; hit")
    assert second.headers["content-length"] == "6"
    assert "transfer-encoding" not in second.headers
    (stored,) = found.responses
    assert not set(FRAMING) & stored.headers.names()
