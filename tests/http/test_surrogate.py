"""``Surrogate-Control`` (W3C Edge Architecture): it takes precedence over
``Cache-Control`` for what the proxy and the middleware store, and never leaves them."""

from __future__ import annotations

import time
from typing import Any

import hitbox
import httpx
import pytest
from hitbox_http import AsyncCacheTransport, CacheMiddleware, HttpCache, HttpPolicy, Route
from hitbox_http import path as route_path
from hitbox_http._proxy import CachingProxy
from hitbox_memory import MemoryBackend

from tests.http.asgi_apps import Origin, client, header_of
from tests.http.servers import serve

# path -> (response fields, stored?, ttl of the hit)
CASES: dict[str, tuple[list[tuple[str, str]], bool, int | None]] = {
    # The classic use: browsers must not store, the surrogate keeps it a minute.
    "/browser-no-store": (
        [("cache-control", "no-store"), ("surrogate-control", "max-age=60")],
        True,
        60,
    ),
    "/surrogate-no-store": (
        [("cache-control", "max-age=60"), ("surrogate-control", "no-store")],
        False,
        None,
    ),
    "/overrides-max-age": (
        [("cache-control", "max-age=5"), ("surrogate-control", 'max-age=120, content="ESI/1.0"')],
        True,
        120,
    ),
    "/expires-ignored": (
        [("expires", "Thu, 01 Jan 1970 00:00:00 GMT"), ("surrogate-control", "max-age=60")],
        True,
        60,
    ),
    "/plus-extension": (
        [("surrogate-control", "max-age=30+600")],
        True,
        30,
    ),
    "/targeted-here": (
        [("cache-control", "no-store"), ("surrogate-control", "max-age=60;hitbox")],
        True,
        60,
    ),
    "/targeted-elsewhere": (
        # Nothing addressed to this cache: Cache-Control applies.
        [("cache-control", "no-store"), ("surrogate-control", "max-age=60;edge-b")],
        False,
        None,
    ),
    "/no-store-for-us": (
        [
            ("cache-control", "max-age=60"),
            ("surrogate-control", "max-age=60;edge-b, no-store;hitbox"),
        ],
        False,
        None,
    ),
    "/private-still-private": (
        [("cache-control", "private"), ("surrogate-control", "max-age=60")],
        False,
        None,
    ),
}


def handler(scope: Any, _: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    headers, _, _ = CASES[scope["path"]]
    if header_of(scope, "if-none-match") == '"s"':
        return 304, [*headers, ("etag", '"s"')], b""
    return 200, [*headers, ("etag", '"s"')], b"surrogate"


def check(first: dict[str, httpx.Response], second: dict[str, httpx.Response]) -> None:
    for path, (headers, stored, ttl) in CASES.items():
        for response in (first[path], second[path]):
            assert "surrogate-control" not in response.headers, path
            assert response.text == "surrogate"
        if stored:
            assert first[path].headers["cache-status"].endswith("stored"), path
            assert ttl is not None
            status = second[path].headers["cache-status"]
            assert status.startswith("hitbox; hit; ttl="), path
            assert int(status.split("ttl=")[1].split(";")[0]) == ttl, path
        else:
            assert not first[path].headers["cache-status"].endswith("stored"), path
            assert "; hit" not in second[path].headers["cache-status"], path
        # Cache-Control reaches the client untouched (it is the client's).
        expected = dict(headers).get("cache-control")
        assert first[path].headers.get("cache-control") == expected, path


async def test_middleware_obeys_and_removes_surrogate_control() -> None:
    clock = hitbox.ManualClock(1_700_000_000.0)
    origin = Origin(handler)
    cache = hitbox.Cache(MemoryBackend(clock=clock), clock=clock)
    async with client(CacheMiddleware(origin, cache=cache)) as http:
        first = {path: await http.get(path) for path in CASES}
        second = {path: await http.get(path) for path in CASES}
        # It never leaves on a revalidation or on a 304 to the client either.
        await clock.advance(200)
        revalidated = await http.get("/browser-no-store")
        not_modified = await http.get("/browser-no-store", headers={"if-none-match": '"s"'})
    check(first, second)
    assert "fwd-status=304" in revalidated.headers["cache-status"]
    assert not_modified.status_code == 304
    for response in (revalidated, not_modified):
        assert "surrogate-control" not in response.headers


@pytest.mark.services
async def test_proxy_obeys_and_removes_surrogate_control() -> None:
    origin = Origin(handler)
    with serve(origin) as upstream:
        # A clock that stands still: ages and ttls are exact however slow the machine.
        frozen = float(int(time.time()))  # whole seconds, as Date carries them
        proxy = CachingProxy(
            upstream, HttpCache(MemoryBackend(), HttpPolicy(), clock=lambda: frozen)
        )
        with serve(proxy) as url:
            async with httpx.AsyncClient(base_url=url) as http:
                first = {path: await http.get(path) for path in CASES}
                second = {path: await http.get(path) for path in CASES}
    check(first, second)


async def test_turned_off_it_is_an_ordinary_field() -> None:
    origin = Origin(handler)
    app = CacheMiddleware(origin, cache=MemoryBackend(), policy={"surrogate_control": False})
    async with client(app) as http:
        first = await http.get("/browser-no-store")
        second = await http.get("/browser-no-store")
    assert first.headers["surrogate-control"] == "max-age=60"
    assert "; hit" not in second.headers["cache-status"]


async def test_a_private_cache_is_no_surrogate() -> None:
    def network(request: httpx.Request) -> httpx.Response:
        headers = {"cache-control": "no-store", "surrogate-control": "max-age=60"}
        return httpx.Response(200, headers=headers, content=b"x")

    transport = AsyncCacheTransport(httpx.MockTransport(network), cache=MemoryBackend())
    async with httpx.AsyncClient(transport=transport) as http:
        await http.get("https://api.example/")
        second = await http.get("https://api.example/")
    assert second.headers["surrogate-control"] == "max-age=60"
    assert "; hit" not in second.headers["cache-status"]


async def test_application_mode_reads_and_removes_it_too() -> None:
    origin = Origin(handler)
    cache = hitbox.Cache(MemoryBackend())
    paths = ("/browser-no-store", "/surrogate-no-store", "/private-still-private")
    app = CacheMiddleware(origin, cache=cache, routes=[Route(route_path("/{name}"), ttl=60)])
    async with client(app) as http:
        first = {p: await http.get(p) for p in paths}
        second = {p: await http.get(p) for p in paths}
    for response in (*first.values(), *second.values()):
        assert "surrogate-control" not in response.headers
    assert second["/browser-no-store"].headers["cache-status"].startswith("hitbox; hit")
    assert "; hit" not in second["/surrogate-no-store"].headers["cache-status"]
    assert "; hit" not in second["/private-still-private"].headers["cache-status"]
