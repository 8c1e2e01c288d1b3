"""CacheMiddleware in RFC mode, on a memory backend with a manual clock."""

from __future__ import annotations

import asyncio
from typing import Any

import hitbox
import pytest
from hitbox_http import CacheMiddleware, HttpPolicy
from hitbox_memory import MemoryBackend
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse
from starlette.routing import Route as StarletteRoute

from tests.http.asgi_apps import (
    Origin,
    RawExchange,
    client,
    event_stream_app,
    fixed,
    header_of,
)

MAX_AGE = ("cache-control", "max-age=60")


@pytest.fixture
def clock() -> hitbox.ManualClock:
    return hitbox.ManualClock()


@pytest.fixture
def cache(clock: hitbox.ManualClock) -> hitbox.Cache:
    return hitbox.Cache(MemoryBackend(clock=clock), clock=clock)


async def test_fresh_response_is_served_from_the_cache(
    cache: hitbox.Cache, clock: hitbox.ManualClock
) -> None:
    origin = Origin(fixed(200, MAX_AGE, ("etag", '"v1"')))
    async with client(CacheMiddleware(origin, cache=cache)) as http:
        first = await http.get("/a?x=1")
        await clock.advance(7)
        second = await http.get("/a?x=1")
        other = await http.get("/a?x=2")
    assert len(origin.calls) == 2
    assert first.headers["cache-status"] == "hitbox; fwd=uri-miss; fwd-status=200; stored"
    assert second.text == "hello"
    assert second.headers["cache-status"] == "hitbox; hit; ttl=53"
    assert second.headers["age"] == "7"
    assert other.headers["cache-status"].startswith("hitbox; fwd=uri-miss")


async def test_the_testing_switch_covers_the_http_layer(cache: hitbox.Cache) -> None:
    origin = Origin(fixed(200, MAX_AGE))
    async with client(CacheMiddleware(origin, cache=cache)) as http:
        stored = await http.get("/a")  # stored while caching is on
        with hitbox.disabled():
            off = [await http.get("/a"), await http.get("/b"), await http.get("/b")]
        again = await http.get("/a")
        fresh = await http.get("/b")
    assert len(origin.calls) == 5  # /a stored, then every call while off, then /b once more
    assert stored.headers["cache-status"].endswith("stored")
    assert {response.headers["cache-status"] for response in off} == {
        "hitbox; fwd=bypass; fwd-status=200"
    }
    assert again.headers["cache-status"].startswith("hitbox; hit")  # kept, served again
    assert fresh.headers["cache-status"].startswith("hitbox; fwd=uri-miss")  # nothing stored


async def test_works_on_a_starlette_app_and_composes(cache: hitbox.Cache) -> None:
    calls = 0

    async def page(request: StarletteRequest) -> PlainTextResponse:
        nonlocal calls
        calls += 1
        return PlainTextResponse(
            f"user {request.path_params['uid']}", headers={"cache-control": "public, max-age=30"}
        )

    app = Starlette(routes=[StarletteRoute("/users/{uid}", page)])
    app.add_middleware(CacheMiddleware, cache=cache)
    async with client(app) as http:
        bodies = [(await http.get("/users/7")).text for _ in range(3)]
    assert bodies == ["user 7"] * 3
    assert calls == 1


@pytest.mark.parametrize(
    ("headers", "request_headers"),
    [
        ([("cache-control", "private, max-age=60")], {}),
        ([MAX_AGE, ("set-cookie", "session=alice")], {}),
        ([("cache-control", "no-store")], {}),
        ([MAX_AGE], {"authorization": "Bearer alice"}),
    ],
)
async def test_private_responses_are_never_served_to_others(
    cache: hitbox.Cache, headers: list[tuple[str, str]], request_headers: dict[str, str]
) -> None:
    origin = Origin(fixed(200, *headers))
    async with client(CacheMiddleware(origin, cache=cache)) as http:
        await http.get("/me", headers=request_headers)
        await http.get("/me", headers=request_headers)
    assert len(origin.calls) == 2


async def test_unkeyed_headers_cannot_poison_the_shared_entry(cache: hitbox.Cache) -> None:
    def reflect(scope: Any, _: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        host = header_of(scope, "x-forwarded-host") or "example.com"
        return 200, [MAX_AGE], f"<script src=//{host}/app.js>".encode()

    origin = Origin(reflect)
    async with client(CacheMiddleware(origin, cache=cache)) as http:
        poisoned = await http.get("/", headers={"x-forwarded-host": "evil.example"})
        clean = await http.get("/")
        again = await http.get("/")
    assert "evil" in poisoned.text
    assert "evil" not in clean.text
    assert again.headers["cache-status"].startswith("hitbox; hit")


async def test_method_override_requests_bypass_the_cache(cache: hitbox.Cache) -> None:
    origin = Origin(fixed(200, MAX_AGE))
    async with client(CacheMiddleware(origin, cache=cache)) as http:
        response = await http.get("/", headers={"x-http-method-override": "DELETE"})
        await http.get("/", headers={"x-http-method-override": "DELETE"})
    assert response.headers["cache-status"] == "hitbox; fwd=bypass; fwd-status=200"
    assert len(origin.calls) == 2


async def test_unsafe_request_invalidates_and_head_uses_the_stored_get(cache: hitbox.Cache) -> None:
    origin = Origin(fixed(200, MAX_AGE))
    async with client(CacheMiddleware(origin, cache=cache)) as http:
        await http.get("/item")
        head = await http.head("/item")
        posted = await http.post("/item", content=b"x")
        await http.get("/item")
    assert head.headers["cache-status"].startswith("hitbox; hit")
    assert head.headers["content-length"] == "5"
    assert posted.headers["cache-status"] == "hitbox; fwd=method; fwd-status=200"
    assert [scope["method"] for scope in origin.calls] == ["GET", "POST", "GET"]


async def test_vary_keeps_variants_apart(cache: hitbox.Cache) -> None:
    def by_language(scope: Any, _: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        language = header_of(scope, "accept-language") or "none"
        return 200, [MAX_AGE, ("vary", "Accept-Language")], language.encode()

    origin = Origin(by_language)
    async with client(CacheMiddleware(origin, cache=cache)) as http:
        texts = [
            (await http.get("/", headers=h)).text
            for h in (
                {"accept-language": "en"},
                {"accept-language": "fr"},
                {"accept-language": "EN"},
                {},
            )
        ]
        texts.append((await http.get("/", headers={"accept-language": "fr"})).text)
    assert texts == ["en", "fr", "en", "none", "fr"]
    assert len(origin.calls) == 3


async def test_variant_count_is_bounded(clock: hitbox.ManualClock) -> None:
    cache = hitbox.Cache(MemoryBackend(clock=clock), clock=clock)

    def by_language(scope: Any, _: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        return 200, [MAX_AGE, ("vary", "accept-language")], b"x"

    origin = Origin(by_language)
    app = CacheMiddleware(origin, cache=cache, policy=HttpPolicy(max_variants=2))
    async with client(app) as http:
        for language in ("a", "b", "c", "a"):
            await http.get("/", headers={"accept-language": language})
    assert len(origin.calls) == 4  # "a" was evicted by "c"


async def test_stale_response_is_revalidated_with_a_conditional_request(
    cache: hitbox.Cache, clock: hitbox.ManualClock
) -> None:
    def validating(scope: Any, _: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        headers = [("cache-control", "max-age=10"), ("etag", '"v1"')]
        if header_of(scope, "if-none-match") == '"v1"':
            return 304, headers, b""
        return 200, headers, b"body"

    origin = Origin(validating)
    async with client(CacheMiddleware(origin, cache=cache)) as http:
        await http.get("/")
        await clock.advance(20)
        revalidated = await http.get("/")
        hit = await http.get("/")
        client_304 = await http.get("/", headers={"if-none-match": '"v1"'})
    assert revalidated.status_code == 200
    assert revalidated.text == "body"
    assert (
        revalidated.headers["cache-status"] == "hitbox; fwd=stale; fwd-status=304; ttl=10; stored"
    )
    assert hit.headers["cache-status"].startswith("hitbox; hit")
    assert client_304.status_code == 304
    assert len(origin.calls) == 2


async def test_stale_while_revalidate_refreshes_in_the_background(
    cache: hitbox.Cache, clock: hitbox.ManualClock
) -> None:
    versions = iter([b"v1", b"v2"])
    origin = Origin(
        lambda scope, _: (
            200,
            [("cache-control", "max-age=10, stale-while-revalidate=60")],
            next(versions),
        )
    )
    app = CacheMiddleware(origin, cache=cache)
    async with client(app) as http:
        await http.get("/")
        await clock.advance(15)
        stale = await http.get("/")
        for _ in range(50):
            if not app.http.background_tasks:
                break
            await asyncio.sleep(0.01)
        fresh = await http.get("/")
    assert stale.text == "v1"
    assert stale.headers["cache-status"] == "hitbox; hit; ttl=-5; detail=stale-while-revalidate"
    assert fresh.text == "v2"
    assert fresh.headers["cache-status"].startswith("hitbox; hit; ttl=10")


async def test_stale_if_error_covers_exceptions_and_5xx(
    cache: hitbox.Cache, clock: hitbox.ManualClock
) -> None:
    origin = Origin(
        fixed(200, ("cache-control", "max-age=10, stale-if-error=300"), ("etag", '"a"'))
    )
    async with client(CacheMiddleware(origin, cache=cache)) as http:
        await http.get("/")
        await clock.advance(20)
        origin.fail = RuntimeError("origin down")
        crashed = await http.get("/")
        origin.fail = None
        origin.handler = fixed(503, body=b"unavailable")
        failing = await http.get("/")
    assert crashed.status_code == 200
    assert crashed.text == "hello"
    assert failing.status_code == 200
    assert failing.headers["cache-status"].endswith(
        "fwd-status=503; ttl=-10; detail=stale-if-error"
    )


async def test_concurrent_misses_collapse_into_one_upstream_call(cache: hitbox.Cache) -> None:
    origin = Origin(fixed(200, MAX_AGE), delay=0.05)
    async with client(CacheMiddleware(origin, cache=cache)) as http:
        responses = await asyncio.gather(*(http.get("/hot") for _ in range(10)))
    assert len(origin.calls) == 1
    assert {r.text for r in responses} == {"hello"}
    statuses = [r.headers["cache-status"] for r in responses]
    assert statuses.count("hitbox; hit; ttl=60; collapsed") == 9


async def test_waiters_never_receive_a_private_response(cache: hitbox.Cache) -> None:
    def personal(scope: Any, _: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        return (
            200,
            [("cache-control", "private, max-age=60")],
            (header_of(scope, "x-user") or "").encode(),
        )

    origin = Origin(personal, delay=0.05)
    async with client(CacheMiddleware(origin, cache=cache)) as http:
        users = [f"user{i}" for i in range(5)]
        responses = await asyncio.gather(*(http.get("/me", headers={"x-user": u}) for u in users))
    assert [r.text for r in responses] == users
    assert len(origin.calls) == 5


async def test_large_bodies_are_passed_through_but_not_stored(cache: hitbox.Cache) -> None:
    origin = Origin(fixed(200, MAX_AGE, body=b"x" * 2000))
    app = CacheMiddleware(origin, cache=cache, policy={"max_body_size": 1000})
    async with client(app) as http:
        first = await http.get("/big")
        await http.get("/big")
    assert len(first.content) == 2000
    assert first.headers["cache-status"].endswith("detail=too-large")
    assert len(origin.calls) == 2


async def test_large_bodies_of_unknown_length_are_not_stored(cache: hitbox.Cache) -> None:
    async def chunked(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"cache-control", b"max-age=60")],
            }
        )
        for _ in range(4):
            await send({"type": "http.response.body", "body": b"x" * 500, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    app = CacheMiddleware(chunked, cache=cache, policy={"max_body_size": 1000})
    async with client(app) as http:
        first = await http.get("/big")
        second = await http.get("/big")
    assert len(first.content) == len(second.content) == 2000
    assert not second.headers["cache-status"].startswith("hitbox; hit")


async def test_uncached_responses_stream_without_buffering(cache: hitbox.Cache) -> None:
    release = asyncio.Event()
    app = CacheMiddleware(event_stream_app(release), cache=cache)
    raw = RawExchange()
    task = asyncio.create_task(app(RawExchange.scope("/events"), raw.receive, raw.send))
    for _ in range(100):
        if any(m.get("body") == b"data: 1\n\n" for m in raw.messages):
            break
        await asyncio.sleep(0.01)
    assert any(m.get("body") == b"data: 1\n\n" for m in raw.messages), "first event held back"
    assert not task.done()
    release.set()
    await asyncio.wait_for(task, 5)
    raw.disconnected.set()


class _BrokenBackend(hitbox.Backend):
    async def get(self, key: str) -> hitbox.CachedValue | None:
        raise ConnectionError("backend down")

    async def set(self, key: str, value: hitbox.CachedValue, ttl: float) -> None:
        raise ConnectionError("backend down")

    async def delete(self, key: str) -> None:
        raise ConnectionError("backend down")


class _GarbageBackend(hitbox.Backend):
    async def get(self, key: str) -> hitbox.CachedValue | None:
        return hitbox.CachedValue(b"\x00garbage", 0.0, 1e12, 1e12)

    async def set(self, key: str, value: hitbox.CachedValue, ttl: float) -> None:
        return None

    async def delete(self, key: str) -> None:
        return None


@pytest.mark.parametrize("backend", [_BrokenBackend(), _GarbageBackend()])
async def test_backend_failures_and_corrupt_entries_fail_open(backend: hitbox.Backend) -> None:
    origin = Origin(fixed(200, MAX_AGE))
    async with client(CacheMiddleware(origin, cache=backend)) as http:
        responses = [await http.get("/") for _ in range(2)]
        posted = await http.post("/")
    assert [r.text for r in responses] == ["hello", "hello"]
    assert posted.status_code == 200
    assert len(origin.calls) == 3


async def test_keys_come_from_the_host_and_path_the_app_routes_on(cache: hitbox.Cache) -> None:
    def by_host(scope: Any, _: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        return 200, [MAX_AGE], (header_of(scope, "host") or "").encode()

    origin = Origin(by_host)
    async with client(CacheMiddleware(origin, cache=cache)) as http:
        first = await http.get("/", headers={"host": "a.example"})
        second = await http.get("/", headers={"host": "b.example"})
        again = await http.get("/", headers={"host": "A.EXAMPLE"})
    assert (first.text, second.text, again.text) == ("a.example", "b.example", "a.example")
    assert len(origin.calls) == 2


@pytest.mark.parametrize("host", [b"[bad", b"a b", b"x:99999", b"x/y", b"x#", b"x?y", b"u@x"])
async def test_malformed_host_passes_through_uncached(cache: hitbox.Cache, host: bytes) -> None:
    origin = Origin(fixed(200, MAX_AGE))
    app = CacheMiddleware(origin, cache=cache)
    for _ in range(2):
        raw = RawExchange()
        await app(RawExchange.scope("/", headers=[(b"host", host)]), raw.receive, raw.send)
        start = raw.messages[0]
        assert start["status"] == 200
        assert (b"cache-status", b"hitbox; fwd=bypass; detail=invalid-host") in start["headers"]
    assert len(origin.calls) == 2


async def test_a_fragment_in_the_raw_path_cannot_alias_another_path(cache: hitbox.Cache) -> None:
    def by_path(scope: Any, _: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        return 200, [MAX_AGE], scope["path"].encode()

    origin = Origin(by_path)
    app = CacheMiddleware(origin, cache=cache)
    raw = RawExchange()
    scope = RawExchange.scope("/a")
    scope.update(path="/a#x", raw_path=b"/a#x")
    await app(scope, raw.receive, raw.send)
    async with client(app) as http:
        clean = await http.get("/a")
    assert clean.text == "/a"
