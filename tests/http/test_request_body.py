"""A GET or HEAD with content is forwarded with it and never cached: its response is not
served from the cache nor stored, so client A's ``GET /x`` with body ``EVIL`` never
reaches client B (proxy over loopback, middleware, application mode)."""

from __future__ import annotations

import asyncio
from typing import Any

import hitbox
import httpx
import pytest
from hitbox_http import CacheMiddleware, HttpCache, HttpPolicy, Route, path
from hitbox_http._proxy import CachingProxy
from hitbox_memory import MemoryBackend

from tests.http.asgi_apps import Origin, RawExchange, client
from tests.http.servers import serve


def echo(scope: Any, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    return 200, [("cache-control", "public, max-age=60")], b"body=" + body


async def _exchanges(http: httpx.AsyncClient) -> dict[str, httpx.Response]:
    return {
        "evil": await http.request("GET", "/x", content=b"EVIL"),
        "plain": await http.get("/x"),
        "plain-again": await http.get("/x"),
        "evil-after": await http.request("GET", "/x", content=b"EVIL2"),
        "head-evil": await http.request("HEAD", "/y", content=b"EVIL"),
        "plain-y": await http.get("/y"),
        "empty": await http.request("GET", "/z", content=b""),
        "empty-again": await http.get("/z"),
    }


def check(responses: dict[str, httpx.Response]) -> None:
    assert responses["evil"].text == "body=EVIL"
    assert responses["evil"].headers["cache-status"].startswith("hitbox; fwd=bypass")
    assert responses["plain"].text == "body="  # A's response was not stored
    assert responses["plain"].headers["cache-status"].endswith("stored")
    assert responses["plain-again"].headers["cache-status"].startswith("hitbox; hit")
    # Not served from the cache either: the origin sees (and answers) this body.
    assert responses["evil-after"].text == "body=EVIL2"
    assert responses["head-evil"].headers["cache-status"].startswith("hitbox; fwd=bypass")
    assert responses["plain-y"].headers["cache-status"].startswith("hitbox; fwd=uri-miss")
    # Content-Length: 0 is no content: cached as usual.
    assert responses["empty-again"].headers["cache-status"].startswith("hitbox; hit")


@pytest.mark.services
async def test_proxy_never_caches_requests_with_content() -> None:
    origin = Origin(echo)
    with serve(origin) as upstream:
        proxy = CachingProxy(upstream, HttpCache(MemoryBackend(), HttpPolicy()), timeout=5)
        with serve(proxy) as url:
            async with httpx.AsyncClient(base_url=url) as http:
                responses = await _exchanges(http)
            chunked = await _raw_chunked_get(url, "/x")
    check(responses)
    assert chunked.endswith(b"body=EVIL")
    assert b"fwd=bypass" in chunked


async def _raw_chunked_get(url: str, target: str) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"GET {target} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n4\r\nEVIL\r\n0\r\n\r\n".encode()
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


async def test_middleware_never_caches_requests_with_content() -> None:
    origin = Origin(echo)
    async with client(CacheMiddleware(origin, cache=hitbox.Cache(MemoryBackend()))) as http:
        check(await _exchanges(http))


async def test_application_mode_leaves_them_to_the_same_rule() -> None:
    origin = Origin(echo)
    cache = hitbox.Cache(MemoryBackend())
    app = CacheMiddleware(origin, cache=cache, routes=[Route(path("/x"), ttl=60)])
    async with client(app) as http:
        evil = await http.request("GET", "/x", content=b"EVIL")
        plain = await http.get("/x")
    assert evil.headers["cache-status"].startswith("hitbox; fwd=bypass")
    assert plain.text == "body="


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("GET", [(b"content-length", b"4"), (b"transfer-encoding", b"chunked")]),
        ("CONNECT", []),
    ],
)
async def test_middleware_leaves_malformed_requests_to_the_application(
    method: str, headers: list[tuple[bytes, bytes]]
) -> None:
    origin = Origin(echo)
    app = CacheMiddleware(origin, cache=hitbox.Cache(MemoryBackend()))
    for _ in range(2):
        exchange = RawExchange()
        scope = RawExchange.scope("/x", method, [(b"host", b"testserver"), *headers])
        await app(scope, exchange.receive, exchange.send)
        start = exchange.messages[0]
        assert start["status"] == 200  # the application's answer, never a cache error
        status = dict(start["headers"])[b"cache-status"]
        assert status.startswith(
            b"hitbox; fwd=bypass" if method == "GET" else b"hitbox; fwd=method"
        )
    assert len(origin.calls) == 2  # neither stored nor served from the cache
