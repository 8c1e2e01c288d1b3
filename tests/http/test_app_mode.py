"""Application mode: routes, predicates, key extractors, TTLs — through hitbox.Cache."""

from __future__ import annotations

import asyncio
from typing import Any

import hitbox
import pytest
from hitbox_http import (
    CacheMiddleware,
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
from hitbox_http._headers import Headers
from hitbox_memory import MemoryBackend

from tests.http.asgi_apps import Origin, client, header_of


def echo(scope: Any, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """No caching headers at all: what application mode is for."""
    return (
        200,
        [("content-type", "text/plain")],
        f"{scope['path']}?{scope['query_string'].decode()}".encode(),
    )


@pytest.fixture
def clock() -> hitbox.ManualClock:
    return hitbox.ManualClock()


@pytest.fixture
def cache(clock: hitbox.ManualClock) -> hitbox.Cache:
    return hitbox.Cache(MemoryBackend(clock=clock), clock=clock)


def request(path_: str, method_: str = "GET", **headers: str) -> RouteRequest:
    return RouteRequest.from_url(method_, f"http://h{path_}", Headers(list(headers.items())))


def test_predicates_compose_with_and_or_not() -> None:
    users = method("GET") & path("/users/{user_id}")
    assert users(request("/users/7"))
    assert not users(request("/users/7", "POST"))
    assert not users(request("/users/7/posts"))
    files = path("/files/{rest:path}")
    matched = request("/files/a/b.txt")
    assert files(matched)
    assert matched.path_params == {"rest": "a/b.txt"}
    search = path("/search") & (query("q") | header("x-search")) & ~query("debug", "1")
    assert search(request("/search?q=x"))
    assert search(request("/search", **{"x-search": "1"}))
    assert not search(request("/search?q=x&debug=1"))
    assert not search(request("/search"))


async def test_route_caches_an_origin_without_caching_headers(
    cache: hitbox.Cache, clock: hitbox.ManualClock
) -> None:
    origin = Origin(echo)
    routes = [Route(method("GET") & path("/users/{user_id}"), ttl=30, key=[path_param("user_id")])]
    async with client(CacheMiddleware(origin, cache=cache, routes=routes)) as http:
        miss = await http.get("/users/1")
        await clock.advance(10)
        hit = await http.get("/users/1")
        same_key = await http.get("/users/1?ignored=yes")  # the key has no query part
        other = await http.get("/users/2")
        unrouted = await http.get("/teams/1")
        await clock.advance(25)
        expired = await http.get("/users/1")
    assert miss.headers["cache-status"] == "hitbox; fwd=miss; fwd-status=200; stored"
    assert hit.headers["cache-status"] == "hitbox; hit; ttl=20"
    assert hit.headers["age"] == "10"
    assert same_key.text == "/users/1?"
    assert other.text == "/users/2?"
    assert unrouted.headers["cache-status"].startswith("hitbox; fwd=uri-miss")
    assert expired.headers["cache-status"].startswith("hitbox; fwd=miss")
    assert [scope["path"] for scope in origin.calls] == [
        "/users/1",
        "/users/2",
        "/teams/1",
        "/users/1",
    ]


async def test_key_extractors_select_query_params_and_headers(cache: hitbox.Cache) -> None:
    origin = Origin(
        lambda scope, _: (200, [], (header_of(scope, "accept-language") or "-").encode())
    )
    routes = [
        Route(path("/list"), ttl=60, key=[query_param("page"), header_value("Accept-Language")])
    ]
    async with client(CacheMiddleware(origin, cache=cache, routes=routes)) as http:
        await http.get("/list?page=1&utm=a", headers={"accept-language": "en"})
        await http.get("/list?utm=b&page=1", headers={"accept-language": "en"})
        fr = await http.get("/list?page=1", headers={"accept-language": "fr"})
        await http.get("/list?page=2", headers={"accept-language": "en"})
    assert fr.text == "fr"
    assert len(origin.calls) == 3


async def test_body_hash_keys_post_queries_and_the_app_still_reads_the_body(
    cache: hitbox.Cache,
) -> None:
    origin = Origin(lambda scope, body: (200, [], body.upper()))
    routes = [Route(method("POST") & path("/graphql"), ttl=60, key=[body_hash()])]
    async with client(CacheMiddleware(origin, cache=cache, routes=routes)) as http:
        first = await http.post("/graphql", content=b"{ user }")
        second = await http.post("/graphql", content=b"{ user }")
        third = await http.post("/graphql", content=b"{ team }")
    assert (first.text, second.text, third.text) == ("{ USER }", "{ USER }", "{ TEAM }")
    assert len(origin.calls) == 2


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([("cache-control", "private")], 200),
        ([("cache-control", "no-store")], 200),
        ([("set-cookie", "session=alice")], 200),
        ([("vary", "Cookie")], 200),  # a Vary the key does not cover
        ([], 404),  # not in the route's statuses
        ([], 500),
    ],
)
async def test_rfc_rules_still_protect_private_data(
    cache: hitbox.Cache, headers: list[tuple[str, str]], status: int
) -> None:
    origin = Origin(lambda scope, _: (status, headers, b"x"))
    routes = [Route(path("/me"), ttl=60)]
    async with client(CacheMiddleware(origin, cache=cache, routes=routes)) as http:
        first = await http.get("/me")
        await http.get("/me")
    assert len(origin.calls) == 2
    assert "stored" not in first.headers["cache-status"]


@pytest.mark.parametrize(
    "request_headers",
    [{"authorization": "Bearer a"}, {"cache-control": "no-cache"}, {"pragma": "no-cache"}],
)
async def test_requests_asking_for_privacy_or_freshness_skip_application_mode(
    cache: hitbox.Cache, request_headers: dict[str, str]
) -> None:
    origin = Origin(echo)
    routes = [Route(path("/x"), ttl=60)]
    async with client(CacheMiddleware(origin, cache=cache, routes=routes)) as http:
        await http.get("/x")
        await http.get("/x", headers=request_headers)
    assert len(origin.calls) == 2


async def test_concurrent_requests_collapse_and_never_share_refused_responses(
    cache: hitbox.Cache,
) -> None:
    shared = Origin(echo, delay=0.05)
    routes = [Route(path("/hot"), ttl=60)]
    async with client(CacheMiddleware(shared, cache=cache, routes=routes)) as http:
        await asyncio.gather(*(http.get("/hot") for _ in range(8)))
    assert len(shared.calls) == 1

    def personal(scope: Any, _: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        user = header_of(scope, "x-user") or ""
        return 200, [("set-cookie", f"s={user}")], user.encode()

    private = Origin(personal, delay=0.05)
    routes = [Route(path("/me"), ttl=60)]
    users = [f"u{i}" for i in range(6)]
    async with client(CacheMiddleware(private, cache=cache, routes=routes)) as http:
        responses = await asyncio.gather(*(http.get("/me", headers={"x-user": u}) for u in users))
    assert [r.text for r in responses] == users
    assert [r.headers["set-cookie"] for r in responses] == [f"s={u}" for u in users]


async def test_max_stale_serves_stale_while_refreshing(
    cache: hitbox.Cache, clock: hitbox.ManualClock
) -> None:
    versions = iter([b"v1", b"v2", b"v3"])
    origin = Origin(lambda scope, _: (200, [], next(versions)))
    routes = [Route(path("/feed"), ttl=10, max_stale=60)]
    async with client(CacheMiddleware(origin, cache=cache, routes=routes)) as http:
        await http.get("/feed")
        await clock.advance(15)
        stale = await http.get("/feed")
        await clock.settle()
        for _ in range(50):
            if len(origin.calls) == 2:
                break
            await asyncio.sleep(0.01)
        fresh = await http.get("/feed")
    assert stale.text == "v1"
    assert stale.headers["cache-status"] == "hitbox; hit; ttl=-5"
    assert fresh.text == "v2"


async def test_routes_need_a_hitbox_cache() -> None:
    with pytest.raises(hitbox.ConfigError, match="routes"):
        CacheMiddleware(Origin(echo), cache=MemoryBackend(), routes=[Route(path("/"), ttl=1)])
