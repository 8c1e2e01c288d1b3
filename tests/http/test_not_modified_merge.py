"""A 304 freshens the stored header fields but never those the stored body depends on
(RFC 9111 §3.2, §4.3.4): through the proxy over loopback and through the middleware."""

from __future__ import annotations

import gzip
import time
from typing import Any

import hitbox
import httpx
import pytest
from hitbox_http import CacheMiddleware, HttpCache, HttpPolicy
from hitbox_http._proxy import CachingProxy
from hitbox_memory import MemoryBackend

from tests.http.asgi_apps import Origin, client, header_of
from tests.http.servers import serve

BODY = gzip.compress(b"stored body " * 20)
INTEGRITY = {
    "content-encoding": ("gzip", "br"),
    "content-md5": ("c3RvcmVk", "bmV3"),
    "digest": ("sha-256=c3RvcmVk", "sha-256=bmV3"),
    "content-digest": ("sha-256=:c3RvcmVk:", "sha-256=:bmV3:"),
    "repr-digest": ("sha-256=:c3RvcmVk:", "sha-256=:bmV3:"),
}


def origin_handler(scope: Any, _: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """A 200 the first time; a 304 with other values of every field after that."""
    if header_of(scope, "if-none-match") == '"v1"':
        headers = [(name, new) for name, (_, new) in INTEGRITY.items()]
        headers += [
            ("etag", 'W/"v1"'),  # weakly equal: selects the stored response, keeps its tag
            ("content-length", "999"),
            ("cache-control", "max-age=100"),
            ("x-version", "2"),
        ]
        return 304, headers, b""
    headers = [(name, old) for name, (old, _) in INTEGRITY.items()]
    headers += [("etag", '"v1"'), ("cache-control", "max-age=10"), ("x-version", "1")]
    return 200, headers, BODY


def check(revalidated: httpx.Response, hit: httpx.Response) -> None:
    for response in (revalidated, hit):
        assert response.status_code == 200
        for name, (old, _) in INTEGRITY.items():
            assert response.headers[name] == old, name
        assert response.headers["etag"] == '"v1"'
        assert response.headers["content-length"] == str(len(BODY))
        assert response.headers["x-version"] == "2"  # other fields are updated
        assert response.headers["cache-control"] == "max-age=100"
        assert response.content == b"stored body " * 20  # gzip-decoded by httpx
    assert "fwd-status=304" in revalidated.headers["cache-status"]
    assert hit.headers["cache-status"].startswith("hitbox; hit")


class ShiftedClock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.mark.services
async def test_proxy_keeps_the_stored_body_s_fields_on_304() -> None:
    clock = ShiftedClock()
    origin = Origin(origin_handler)
    with serve(origin) as upstream:
        proxy = CachingProxy(upstream, HttpCache(MemoryBackend(), HttpPolicy(), clock=clock))
        with serve(proxy) as url:
            async with httpx.AsyncClient(base_url=url) as h:
                await h.get("/doc")
                clock.offset = 30
                revalidated = await h.get("/doc")
                hit = await h.get("/doc")
    check(revalidated, hit)
    assert len(origin.calls) == 2


async def test_middleware_keeps_the_stored_body_s_fields_on_304() -> None:
    clock = hitbox.ManualClock()
    origin = Origin(origin_handler)
    cache = hitbox.Cache(MemoryBackend(clock=clock), clock=clock)
    async with client(CacheMiddleware(origin, cache=cache)) as http:
        await http.get("/doc")
        await clock.advance(30)
        revalidated = await http.get("/doc")
        hit = await http.get("/doc")
    check(revalidated, hit)
    assert len(origin.calls) == 2
