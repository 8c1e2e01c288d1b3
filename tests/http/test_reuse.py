"""RFC 9111 §4: reuse, request directives, serving stale (§4.2.4, RFC 5861), validation."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hitbox_http import Forward, Hit, HttpPolicy, Request, Response

from tests.http.helpers import URL, World, get, ok


def origin(
    world: World, *headers: tuple[str, str], status: int = 200, body: bytes = b"hello"
) -> Callable[[Request], Response]:
    return lambda _: ok(*headers, status=status, body=body, clock=world.clock)


def primed(*headers: tuple[str, str], policy: HttpPolicy | None = None) -> World:
    world = World(policy)
    world.fetch(get(), origin(world, *headers))
    assert world.stored(), "the priming response was not stored"
    return world


# --- fresh, stale, validation ----------------------------------------------------------


def test_stale_response_is_revalidated_with_its_validators_and_freshened_by_304() -> None:
    world = primed(
        ("cache-control", "max-age=10"),
        ("etag", '"v1"'),
        ("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ("x-version", "1"),
    )
    world.clock.advance(11)
    exchange = world.fetch(
        get(),
        origin(
            world,
            ("cache-control", "max-age=100"),
            ("x-version", "2"),
            ("content-length", "0"),
            status=304,
            body=b"",
        ),
    )
    (conditional,) = exchange.upstream
    assert conditional.headers.get("if-none-match") == '"v1"'
    assert conditional.headers.get("if-modified-since") == "Mon, 01 Jan 2024 00:00:00 GMT"
    assert exchange.response.status == 200
    assert exchange.response.body == b"hello"
    assert exchange.cache_status == "hitbox; fwd=stale; fwd-status=304; ttl=100; stored"
    (freshened,) = world.stored()
    assert freshened.headers.get("x-version") == "2"
    assert freshened.headers.get("content-length") == "5"  # §3.2: never from the 304
    world.clock.advance(50)
    assert world.fetch(get()).cache_status == "hitbox; hit; ttl=50"


def test_304_with_a_different_strong_validator_updates_nothing_and_refetches() -> None:
    world = primed(("cache-control", "max-age=1"), ("etag", '"v1"'))
    world.clock.advance(5)
    answers = iter(
        [
            ok(("etag", '"v2"'), status=304, body=b""),
            ok(("etag", '"v2"'), ("cache-control", "max-age=60"), body=b"new", clock=world.clock),
        ]
    )
    exchange = world.fetch(get(), lambda _: next(answers))
    assert [r.headers.get("if-none-match") for r in exchange.upstream] == ['"v1"', None]
    assert exchange.response.body == b"new"
    assert world.stored()[0].body == b"new"


def test_weak_validator_selects_the_stored_response() -> None:
    world = primed(("cache-control", "max-age=1"), ("etag", 'W/"v1"'))
    world.clock.advance(5)
    exchange = world.fetch(
        get(), origin(world, ("etag", 'W/"v1"'), ("cache-control", "max-age=9"), status=304)
    )
    assert exchange.response.body == b"hello"
    assert "fwd-status=304" in exchange.cache_status


def test_stale_response_without_validator_is_fetched_again() -> None:
    world = World()
    world.fetch(get(), origin(world, ("cache-control", "max-age=5, stale-if-error=60")))
    world.clock.advance(6)
    exchange = world.fetch(get(), origin(world, ("cache-control", "max-age=5"), body=b"again"))
    assert "if-none-match" not in exchange.upstream[0].headers
    assert exchange.response.body == b"again"
    assert exchange.cache_status == "hitbox; fwd=stale; fwd-status=200; stored"


def test_no_cache_response_is_always_validated_and_qualified_fields_are_withheld() -> None:
    world = primed(("cache-control", "max-age=60, no-cache"), ("etag", '"a"'))
    exchange = world.fetch(get(), origin(world, status=304))
    assert exchange.upstream
    assert exchange.decision.fwd == "stale"  # type: ignore[union-attr]
    qualified = primed(("cache-control", 'max-age=60, no-cache="x-secret"'), ("x-secret", "1"))
    assert "x-secret" not in qualified.fetch(get()).response.headers


# --- request directives ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_headers", "fwd"),
    [
        ([("cache-control", "no-cache")], "request"),
        ([("pragma", "no-cache")], "request"),
        ([("cache-control", "max-age=0")], "request"),
        ([("cache-control", "max-age=5")], "request"),
        ([("cache-control", "min-fresh=55")], "request"),
        ([("cache-control", "max-age=30, min-fresh=10")], None),
        ([("cache-control", "max-stale=5"), ("pragma", "no-cache")], None),  # Pragma ignored
    ],
)
def test_request_directives(request_headers: list[tuple[str, str]], fwd: str | None) -> None:
    world = primed(("cache-control", "max-age=60"), ("etag", '"a"'))
    world.clock.advance(10)
    decision = world.spec.on_request(get(URL, *request_headers), world.stored())
    if fwd is None:
        assert isinstance(decision, Hit)
    else:
        assert isinstance(decision, Forward)
        assert decision.fwd == fwd
        assert decision.request.headers.get("if-none-match") == '"a"'


def test_gateway_may_ignore_client_no_cache() -> None:
    world = primed(("cache-control", "max-age=60"), policy=HttpPolicy(honor_request_no_cache=False))
    assert isinstance(
        world.spec.on_request(get(URL, ("cache-control", "no-cache")), world.stored()), Hit
    )


def test_max_stale_accepts_stale_unless_must_revalidate() -> None:
    world = primed(("cache-control", "max-age=10"))
    world.clock.advance(15)
    hit = world.fetch(get(URL, ("cache-control", "max-stale=10")))
    assert hit.cache_status == "hitbox; hit; ttl=-5"
    assert isinstance(
        world.spec.on_request(get(URL, ("cache-control", "max-stale=2")), world.stored()), Forward
    )
    strict = primed(("cache-control", "max-age=10, must-revalidate"))
    strict.clock.advance(15)
    assert isinstance(
        strict.spec.on_request(get(URL, ("cache-control", "max-stale")), strict.stored()), Forward
    )


def test_only_if_cached_answers_504_without_a_usable_response() -> None:
    world = World()
    miss = world.fetch(get(URL, ("cache-control", "only-if-cached")))
    assert miss.response.status == 504
    assert miss.cache_status == "hitbox; detail=only-if-cached"
    world.fetch(get(), origin(world, ("cache-control", "max-age=10")))
    assert world.fetch(get(URL, ("cache-control", "only-if-cached"))).response.status == 200
    world.clock.advance(11)
    assert world.fetch(get(URL, ("cache-control", "only-if-cached"))).response.status == 504


# --- serving stale ---------------------------------------------------------------------


def test_stale_while_revalidate_serves_stale_and_revalidates_in_the_background() -> None:
    world = primed(("cache-control", "max-age=10, stale-while-revalidate=30"), ("etag", '"v1"'))
    world.clock.advance(20)
    exchange = world.fetch(
        get(), origin(world, ("cache-control", "max-age=10, stale-while-revalidate=30"), status=304)
    )
    assert exchange.response.body == b"hello"
    assert exchange.cache_status == "hitbox; hit; ttl=-10; detail=stale-while-revalidate"
    assert exchange.upstream[0].headers.get("if-none-match") == '"v1"'
    assert world.fetch(get()).cache_status == "hitbox; hit; ttl=10"  # freshened
    world.clock.advance(50)  # past the window: synchronous validation
    late = world.fetch(get(), origin(world, status=304))
    assert isinstance(late.decision, Forward)


def test_stale_while_revalidate_does_not_override_must_revalidate() -> None:
    world = primed(
        ("cache-control", "max-age=10, stale-while-revalidate=30, must-revalidate"),
        ("etag", '"v1"'),
    )
    world.clock.advance(20)
    assert isinstance(world.spec.on_request(get(), world.stored()), Forward)


def test_stale_if_error_serves_stale_on_5xx_and_on_connection_failure() -> None:
    world = primed(("cache-control", "max-age=10, stale-if-error=60"), ("etag", '"v1"'))
    world.clock.advance(30)
    exchange = world.fetch(get(), origin(world, status=503, body=b"down"))
    assert exchange.response.status == 200
    assert exchange.response.body == b"hello"
    assert (
        exchange.cache_status == "hitbox; fwd=stale; fwd-status=503; ttl=-20; detail=stale-if-error"
    )
    failed = world.fail(get())
    assert failed is not None
    assert failed.body == b"hello"
    world.clock.advance(100)
    assert world.fetch(get(), origin(world, status=503, body=b"down")).response.status == 503
    assert world.fail(get()) is None


@pytest.mark.parametrize(
    ("directive", "policy", "request_headers", "served"),
    [
        ("max-age=10", HttpPolicy(), [], False),
        ("max-age=10", HttpPolicy(stale_if_error=60), [], True),
        ("max-age=10", HttpPolicy(), [("cache-control", "stale-if-error=60")], True),
        ("max-age=10, must-revalidate, stale-if-error=60", HttpPolicy(), [], False),
        ("s-maxage=10, stale-if-error=60", HttpPolicy(), [], False),
        ("max-age=10, proxy-revalidate", HttpPolicy(stale_if_error=60), [], False),
    ],
)
def test_stale_if_error_sources_and_prohibitions(
    directive: str, policy: HttpPolicy, request_headers: list[tuple[str, str]], served: bool
) -> None:
    world = primed(("cache-control", directive), ("etag", '"v1"'), policy=policy)
    world.clock.advance(30)
    exchange = world.fetch(get(URL, *request_headers), origin(world, status=500, body=b"err"))
    assert (exchange.response.status == 200) is served


# --- HEAD and client conditionals ------------------------------------------------------


def test_head_is_answered_from_a_stored_get_without_a_body() -> None:
    world = primed(("cache-control", "max-age=60"))
    head = world.fetch(get(method="HEAD"))
    assert head.response.status == 200
    assert head.response.body == b""
    assert head.response.headers.get("content-length") == "5"
    assert "hit" in head.cache_status
    miss = World()
    exchange = miss.fetch(
        get(method="HEAD"), origin(miss, ("cache-control", "max-age=60"), body=b"")
    )
    assert not miss.stored()
    assert exchange.upstream[0].method == "HEAD"


@pytest.mark.parametrize(
    ("conditional", "status"),
    [
        (("if-none-match", '"v1"'), 304),
        (("if-none-match", 'W/"v1"'), 304),  # weak comparison
        (("if-none-match", '"v0", "v1"'), 304),
        (("if-none-match", "*"), 304),
        (("if-none-match", '"v0"'), 200),
        (("if-modified-since", "Mon, 01 Jan 2024 00:00:00 GMT"), 304),
        (("if-modified-since", "Sun, 31 Dec 2023 00:00:00 GMT"), 200),
        (("if-modified-since", "garbage"), 200),
    ],
)
def test_client_conditionals_are_answered_from_the_cache(
    conditional: tuple[str, str], status: int
) -> None:
    world = primed(
        ("cache-control", "max-age=60"),
        ("etag", '"v1"'),
        ("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ("content-type", "text/plain"),
    )
    exchange = world.fetch(get(URL, conditional))
    assert exchange.response.status == status
    assert "hit" in exchange.cache_status
    if status == 304:
        assert exchange.response.body == b""
        assert exchange.response.headers.get("etag") == '"v1"'
        assert "content-type" not in exchange.response.headers
        assert exchange.response.headers.get("age") == "0"


def test_if_modified_since_uses_date_when_there_is_no_last_modified() -> None:
    world = primed(("cache-control", "max-age=60"))
    date = world.stored()[0].headers.get("date")
    assert date is not None
    assert world.fetch(get(URL, ("if-modified-since", date))).response.status == 304


def test_client_conditional_on_a_miss_is_not_forwarded_so_the_full_response_is_stored() -> None:
    world = World()
    exchange = world.fetch(
        get(URL, ("if-none-match", '"v1"')),
        origin(world, ("cache-control", "max-age=60"), ("etag", '"v1"')),
    )
    assert "if-none-match" not in exchange.upstream[0].headers
    assert exchange.response.status == 304
    assert world.stored()[0].body == b"hello"


# --- Vary ------------------------------------------------------------------------------


def test_vary_selects_by_normalised_request_fields() -> None:
    world = World()
    gzip = get(URL, ("accept-encoding", "gzip, br"))
    world.fetch(
        gzip,
        origin(world, ("cache-control", "max-age=60"), ("vary", "Accept-Encoding"), body=b"gz"),
    )
    assert world.fetch(get(URL, ("Accept-Encoding", "BR,gzip"))).response.body == b"gz"
    miss = world.fetch(
        get(),
        origin(world, ("cache-control", "max-age=60"), ("vary", "accept-encoding"), body=b"plain"),
    )
    assert miss.decision.fwd == "vary-miss"  # type: ignore[union-attr]
    assert world.fetch(get()).response.body == b"plain"
    assert world.fetch(gzip).response.body == b"gz"


# --- bypass and Cache-Status on every response -----------------------------------------


@pytest.mark.parametrize(
    "header",
    [  # Range is answered from storage: see test_ranges.py
        ("if-match", '"a"'),
        ("x-http-method-override", "DELETE"),
        ("if-unmodified-since", "Mon, 01 Jan 2024 00:00:00 GMT"),
    ],
)
def test_bypassed_requests_are_forwarded_and_not_stored(header: tuple[str, str]) -> None:
    world = primed(("cache-control", "max-age=60"))
    exchange = world.fetch(
        get(URL, header), origin(world, ("cache-control", "max-age=60"), body=b"x")
    )
    assert exchange.cache_status == "hitbox; fwd=bypass; fwd-status=200"
    assert world.stored()[0].body == b"hello"


def test_upstream_cache_status_is_preserved() -> None:
    world = World()
    exchange = world.fetch(
        get(), origin(world, ("cache-control", "max-age=60"), ("cache-status", "OriginCache; hit"))
    )
    assert exchange.response.headers.get_all("cache-status") == [
        "OriginCache; hit, hitbox; fwd=uri-miss; fwd-status=200; stored"
    ]
