"""Tolerant parsers: Cache-Control, Pragma, CDN-Cache-Control, dates, Age, Vary, ETag."""

from __future__ import annotations

import pytest
from hitbox_http import (
    EntityTag,
    Headers,
    HttpPolicy,
    RequestDirectives,
    ResponseDirectives,
    format_http_date,
    parse_age,
    parse_entity_tag,
    parse_http_date,
    parse_vary,
)
from hitbox_http._directives import MAX_DELTA_SECONDS, parse_directives
from hitbox_http._fields import parse_entity_tag_list, strong_match, weak_match
from hitbox_http._headers import split_list
from hitbox_http._keys import normalize_url, primary_key, selecting_values, variant_key
from hitbox_http._surrogate import surrogate_directives
from hitbox_http._targeted import parse_sf_dictionary, targeted_directives
from hypothesis import given, settings
from hypothesis import strategies as st

SUNDAY = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT


def rd(*lines: str) -> ResponseDirectives:
    return ResponseDirectives.parse(lines)


# --- headers ---------------------------------------------------------------------------


def test_headers_are_case_insensitive_ordered_and_immutable() -> None:
    headers = Headers([("Vary", "Accept"), ("X-A", "1"), ("vary", "Cookie")])
    assert headers.get("VARY") == "Accept"
    assert headers.get_all("vary") == ["Accept", "Cookie"]
    assert headers.get_list("Vary") == ["Accept", "Cookie"]
    updated = headers.set("Age", "3")
    assert "age" not in headers
    assert updated.get("age") == "3"
    assert headers.without("vary").get_all("vary") == []
    assert Headers.from_raw(headers.raw()) == headers


def test_headers_updated_replaces_every_line_of_each_new_field() -> None:
    stored = Headers([("etag", '"a"'), ("x", "1"), ("x", "2"), ("content-length", "5")])
    newer = Headers([("x", "3"), ("content-length", "0")])
    merged = stored.updated(newer, keep=("content-length",))
    assert merged.get_all("x") == ["3"]
    assert merged.get("content-length") == "5"


def test_headers_only_keeps_the_named_fields_in_order() -> None:
    headers = Headers([("ETag", '"a"'), ("X", "1"), ("Vary", "Accept"), ("x", "2")])
    assert list(headers.only("x", "ETAG", "absent")) == [("etag", '"a"'), ("x", "1"), ("x", "2")]
    assert len(headers.only("absent")) == 0
    assert headers.only("vary") == Headers([("vary", "Accept")])


def test_split_list_respects_quotes_and_drops_empty_members() -> None:
    assert split_list(' a , ,"b, c" ,d,') == ["a", '"b, c"', "d"]
    assert split_list('"unterminated, x') == ['"unterminated, x']


# --- dates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "sun, 06 nov 1994 08:49:37 gmt",
        "  Sun,  06 Nov 1994 08:49:37 GMT ",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "Sun Nov 6 08:49:37 1994",
    ],
)
def test_all_three_date_formats_parse(value: str) -> None:
    assert parse_http_date(value, now=1_700_000_000) == SUNDAY


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "-1",
        "",
        "tomorrow",
        "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 25:00:00 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 PST",
        "1994-11-06T08:49:37Z",
    ],
)
def test_invalid_dates_are_none(value: str) -> None:
    assert parse_http_date(value) is None


def test_rfc850_two_digit_year_is_never_more_than_50_years_ahead() -> None:
    now = parse_http_date("Mon, 01 Jan 2024 00:00:00 GMT")
    assert parse_http_date("Monday, 01-Jan-73 00:00:00 GMT", now=now) == parse_http_date(
        "Mon, 01 Jan 2073 00:00:00 GMT"
    )
    assert parse_http_date("Friday, 01-Jan-75 00:00:00 GMT", now=now) == parse_http_date(
        "Wed, 01 Jan 1975 00:00:00 GMT"
    )


def test_format_http_date_round_trips_and_clamps() -> None:
    assert format_http_date(SUNDAY) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert parse_http_date(format_http_date(1e13)) is not None
    assert format_http_date(-5) == "Thu, 01 Jan 1970 00:00:00 GMT"


# --- Cache-Control ---------------------------------------------------------------------


def test_directive_names_are_case_insensitive_and_arguments_unquoted() -> None:
    assert parse_directives(['Max-Age="60", NO-CACHE="Set-Cookie, X-A", Public']) == [
        ("max-age", "60"),
        ("no-cache", "Set-Cookie, X-A"),
        ("public", None),
    ]


def test_response_directives_every_field() -> None:
    parsed = rd(
        "max-age=60, s-maxage=30, no-cache, no-store, private, public, must-revalidate",
        "proxy-revalidate, must-understand, no-transform, immutable",
        'stale-while-revalidate=5, stale-if-error=7, community="UCI"',
    )
    assert parsed == ResponseDirectives(
        max_age=60,
        s_maxage=30,
        no_cache=True,
        no_store=True,
        private=True,
        public=True,
        must_revalidate=True,
        proxy_revalidate=True,
        must_understand=True,
        no_transform=True,
        immutable=True,
        stale_while_revalidate=5,
        stale_if_error=7,
        extensions=("community",),
    )


@pytest.mark.parametrize(
    ("lines", "max_age"),
    [
        (["max-age=abc"], 0),
        (["max-age=-1"], 0),
        (["max-age=1.5"], 0),
        (["max-age="], 0),
        (["max-age"], 0),
        (["max-age=60", "max-age=120"], 0),  # conflicting duplicates: stale
        (["max-age=60, max-age=60"], 60),
        (['max-age="60"'], 60),
        (["max-age=99999999999999999999"], MAX_DELTA_SECONDS),
        (["max-age=4294967296"], MAX_DELTA_SECONDS),
        (["public"], None),
    ],
)
def test_invalid_or_duplicate_freshness_counts_as_stale(
    lines: list[str], max_age: int | None
) -> None:
    assert rd(*lines).max_age == max_age


def test_invalid_stale_extensions_are_ignored() -> None:
    parsed = rd("stale-while-revalidate=soon, stale-if-error=-3")
    assert parsed.stale_while_revalidate is None
    assert parsed.stale_if_error is None


def test_qualified_no_cache_and_private_keep_field_names_unqualified_wins() -> None:
    qualified = rd('no-cache="Set-Cookie", private="X-User"')
    assert not qualified.no_cache
    assert qualified.no_cache_fields == ("set-cookie",)
    assert not qualified.private
    assert qualified.private_fields == ("x-user",)
    assert rd('private="X-User", private').private
    assert rd('no-cache=""').no_cache  # an empty list is the unqualified form


def test_garbage_members_are_skipped() -> None:
    parsed = rd('max-age=10, "quoted", a b, ;;, =x, public')
    assert parsed.max_age == 10
    assert parsed.public


def test_request_directives() -> None:
    parsed = RequestDirectives.parse(
        ["max-age=5, max-stale, min-fresh=3, no-cache, no-store, only-if-cached, stale-if-error=9"]
    )
    assert parsed == RequestDirectives(
        max_age=5,
        max_stale=MAX_DELTA_SECONDS,
        min_fresh=3,
        no_cache=True,
        no_store=True,
        only_if_cached=True,
        stale_if_error=9,
    )
    assert RequestDirectives.parse(["max-stale=10"]).max_stale == 10
    assert RequestDirectives.parse(["max-stale=x, min-fresh=y"]) == RequestDirectives()
    assert RequestDirectives.parse(["max-age=x"]).max_age == 0
    assert RequestDirectives.parse([]).is_empty


def test_pragma_no_cache_applies_only_without_cache_control() -> None:
    assert RequestDirectives.parse([], ["no-cache"]).no_cache
    assert RequestDirectives.parse([], ["No-Cache, x=1"]).no_cache
    assert not RequestDirectives.parse(["max-stale=5"], ["no-cache"]).no_cache
    assert not RequestDirectives.parse([], ["x"]).no_cache


# --- CDN-Cache-Control (RFC 9213) ------------------------------------------------------


def test_sf_dictionary_parses_members_and_rejects_invalid() -> None:
    assert parse_sf_dictionary('max-age=60, private, no-cache=("a" "b");x=1, a=?0') == [
        ("max-age", "60"),
        ("private", True),
        ("no-cache", "a, b"),
        ("a", False),
    ]
    for invalid in ["", "Max-Age=60", "max-age=60,", "max-age=", 'a="unterminated', "a=1 b=2"]:
        assert parse_sf_dictionary(invalid) is None, invalid


def test_targeted_field_wins_in_target_order_and_invalid_is_ignored() -> None:
    headers = Headers(
        [
            ("cache-control", "no-store"),
            ("cdn-cache-control", "max-age=600"),
            ("hitbox-cache-control", "Max-Age=1"),
        ]  # invalid: uppercase key
    )
    directives = targeted_directives(headers, ("hitbox-cache-control", "cdn-cache-control"))
    assert directives is not None
    assert directives.max_age == 600
    assert not directives.no_store
    assert (
        targeted_directives(Headers([("cache-control", "max-age=1")]), ("cdn-cache-control",))
        is None
    )


# --- Age, Vary, ETag -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "age"),
    [
        ([], 0),
        (["10"], 10),
        (["10", "10"], 10),
        (["10, 20"], 10),  # list-valued: the first member (RFC 9111 §5.1)
        (["10", "20"], 10),  # repeated lines are one list
        ([" , 7"], 7),  # empty members do not count
        (["ten"], 0),  # invalid: ignored
        (["-5"], 0),
        (["1e3"], 0),
        (["1.5"], 0),
        (["ten, 10"], 0),  # the first member is invalid: the field is ignored
        (["99999999999"], MAX_DELTA_SECONDS),
    ],
)
def test_age(lines: list[str], age: int) -> None:
    assert parse_age(Headers([("age", line) for line in lines])) == age


def test_vary_is_lowercased_deduplicated_and_star_wins() -> None:
    assert parse_vary(
        Headers([("vary", "Accept-Encoding, accept-encoding"), ("vary", "Origin")])
    ) == (
        "accept-encoding",
        "origin",
    )
    assert parse_vary(Headers([("vary", "Accept, *")])) == ("*",)
    assert parse_vary(Headers()) == ()


def test_entity_tags() -> None:
    assert parse_entity_tag('"abc"') == EntityTag("abc")
    assert parse_entity_tag('W/"abc"') == EntityTag("abc", weak=True)
    assert parse_entity_tag('w/ "abc"') == EntityTag("abc", weak=True)
    assert parse_entity_tag("abc") == EntityTag("abc")  # tolerant of a missing quote pair
    assert parse_entity_tag('""') is None
    assert parse_entity_tag('"a"b"') is None
    assert parse_entity_tag_list(['"a", W/"b"', 'junk"', '"c"']) == (
        EntityTag("a"),
        EntityTag("b", True),
        EntityTag("c"),
    )
    assert parse_entity_tag_list(['"a", *']) is None
    assert strong_match(EntityTag("a"), EntityTag("a"))
    assert not strong_match(EntityTag("a", True), EntityTag("a"))
    assert weak_match(EntityTag("a", True), EntityTag("a"))
    assert str(EntityTag("a", True)) == 'W/"a"'


# --- keys ------------------------------------------------------------------------------


def test_url_normalisation_keeps_path_and_query_bytes() -> None:
    assert (
        normalize_url("HTTP://Example.COM:80/a%2Fb?x=1&y=2#frag")
        == "http://example.com/a%2Fb?x=1&y=2"
    )
    assert normalize_url("https://example.com:8443") == "https://example.com:8443/"
    assert normalize_url("http://[::1]:8080/x") == "http://[::1]:8080/x"
    assert normalize_url("http://a/x?b=1&a=2") != normalize_url("http://a/x?a=2&b=1")


def test_unkeyed_headers_change_the_primary_key_and_long_keys_are_hashed() -> None:
    plain = primary_key("http://a/x", Headers(), unkeyed_headers=("x-forwarded-host",))
    poisoned = primary_key(
        "http://a/x", Headers([("X-Forwarded-Host", "evil")]), unkeyed_headers=("x-forwarded-host",)
    )
    assert plain == "http:http://a/x"
    assert poisoned != plain
    assert poisoned.startswith(plain + "#h:")
    long_key = primary_key("http://a/" + "x" * 1000, Headers(), max_length=512)
    assert long_key.startswith("http:sha256:")
    assert len(long_key) < 100


def test_selecting_values_normalise_whitespace_case_order_and_lines() -> None:
    first = Headers([("accept-encoding", "gzip,  BR"), ("accept-language", "EN")])
    second = Headers(
        [("Accept-Encoding", "br"), ("accept-encoding", "gzip"), ("accept-language", "en")]
    )
    names = ("accept-encoding", "accept-language", "cookie")
    assert selecting_values(first, names) == selecting_values(second, names)
    assert selecting_values(first, names)[2] == ("cookie", None)
    empty = Headers([("cookie", "")])
    assert selecting_values(empty, ("cookie",)) != selecting_values(Headers(), ("cookie",))
    assert variant_key("k", (("a", None),)) != variant_key("k", (("a", ""),))


@pytest.mark.parametrize(
    ("value", "max_age", "no_store"),
    [
        ("max-age=60", 60, False),
        ("MAX-AGE=60+300", 60, False),
        ("max-age=60;hitbox, no-store;other", 60, False),
        ("max-age=60;other", None, None),  # nothing for this cache
        ('content="ESI/1.0"', None, None),
        ("no-store-remote", None, None),
        ("max-age=abc", 0, False),  # invalid freshness: stale
        ("no-store", None, True),
    ],
)
def test_surrogate_control(value: str, max_age: int | None, no_store: bool | None) -> None:
    directives = surrogate_directives(Headers([("surrogate-control", value)]), HttpPolicy())
    if no_store is None:
        assert directives is None
    else:
        assert directives is not None
        assert (directives.max_age, directives.no_store) == (max_age, no_store)


# --- fuzzing: nothing escapes ----------------------------------------------------------

header_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=80)


@settings(max_examples=300, deadline=None)
@given(header_text, header_text)
def test_parsers_never_raise(first: str, second: str) -> None:
    headers = Headers(
        [
            ("cache-control", first),
            ("cache-control", second),
            ("age", first),
            ("vary", second),
            ("etag", first),
            ("cdn-cache-control", second),
            ("surrogate-control", first),
        ]
    )
    surrogate_directives(headers, HttpPolicy())
    ResponseDirectives.parse([first, second])
    RequestDirectives.parse([first], [second])
    parse_http_date(first)
    parse_age(headers)
    parse_vary(headers)
    parse_entity_tag(first)
    parse_entity_tag_list([first, second])
    parse_sf_dictionary(first)
    targeted_directives(headers, ("cdn-cache-control",))
    selecting_values(headers, ("vary", "etag", "accept-encoding"))


@settings(max_examples=200, deadline=None)
@given(
    st.builds(
        lambda *parts: "".join(parts),
        st.sampled_from(["Sun, ", "Sunday, ", "Sun "]),
        st.text("0123456789 -:ADFJMNOSabceglnoprtuvyGMT", max_size=30),
    )
)
def test_date_parser_never_raises_on_near_dates(value: str) -> None:
    parse_http_date(value)


field_names = st.sampled_from(
    [
        "cache-control",
        "expires",
        "date",
        "age",
        "etag",
        "vary",
        "last-modified",
        "pragma",
        "if-none-match",
        "if-modified-since",
        "cdn-cache-control",
        "set-cookie",
        "location",
    ]
)
plausible = st.sampled_from(
    [
        "max-age=60",
        "s-maxage=5, stale-while-revalidate=30",
        "no-cache",
        "public",
        "private",
        "max-age=0, must-revalidate",
        "stale-if-error=60",
        '"v1"',
        'W/"v1"',
        "*",
        "accept",
        "Mon, 01 Jan 2024 00:00:00 GMT",
        "0",
        "5",
        "max-stale",
        "only-if-cached",
        "min-fresh=5",
    ]
)
field_lists = st.lists(st.tuples(field_names, st.one_of(header_text, plausible)), max_size=8)


@settings(max_examples=300, deadline=None)
@given(
    field_lists,
    field_lists,
    st.sampled_from([200, 203, 304, 404, 500, 999]),
    st.floats(min_value=0, max_value=1e6),
)
def test_the_spec_never_raises_on_arbitrary_fields(
    request_fields: list[tuple[str, str]],
    response_fields: list[tuple[str, str]],
    status: int,
    elapsed: float,
) -> None:
    from hitbox_http import HttpCacheSpec, HttpPolicy, Request

    now = 1_700_000_000.0
    clock = [now]
    spec = HttpCacheSpec(HttpPolicy(targeted_fields=("cdn-cache-control",)), clock=lambda: clock[0])
    request = Request("GET", "https://example.com/x", Headers(request_fields))
    decision = spec.on_request(request, [])
    if not hasattr(decision, "fwd"):
        assert decision.response.status == 504  # type: ignore[union-attr]  # only-if-cached
        return
    plan = spec.on_response(
        decision,
        status,
        Headers(response_fields),  # type: ignore[arg-type]
        request_time=now,
        response_time=now,
    )
    if plan.store is not None:
        clock[0] += elapsed
        again = spec.on_request(request, [plan.store.with_body(b"x")])
        if hasattr(again, "fwd"):
            spec.on_error(again)  # type: ignore[arg-type]
            spec.on_response(
                again,
                304,
                Headers(response_fields),  # type: ignore[arg-type]
                request_time=clock[0],
                response_time=clock[0],
            )
