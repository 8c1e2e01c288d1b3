"""RFC 9111 §4.2: freshness lifetime, heuristics and age calculation."""

from __future__ import annotations

import pytest
from hitbox_http import Headers, HttpPolicy, StoredResponse, format_http_date
from hitbox_http._freshness import assess

from tests.http.helpers import T0, URL, World, get, ok

DATE = format_http_date(T0)


def stored(
    *headers: tuple[str, str],
    status: int = 200,
    request_time: float = T0,
    response_time: float = T0,
) -> StoredResponse:
    return StoredResponse(status, Headers(headers), b"", request_time, response_time, URL)


def lifetime(
    *headers: tuple[str, str], policy: HttpPolicy | None = None, status: int = 200
) -> float:
    return assess(stored(*headers, status=status), policy or HttpPolicy()).freshness_lifetime


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([("cache-control", "s-maxage=10, max-age=20")], 10),
        ([("cache-control", "max-age=20"), ("expires", format_http_date(T0 + 99))], 20),
        ([("date", DATE), ("expires", format_http_date(T0 + 99))], 99),
        ([("date", format_http_date(T0 - 50)), ("expires", format_http_date(T0 + 50))], 100),
        ([("expires", format_http_date(T0 + 30))], 30),  # no Date: the receipt time
        ([("date", DATE), ("expires", "0")], 0),
        ([("date", DATE), ("expires", "not a date")], 0),
        ([("date", DATE), ("expires", format_http_date(T0 - 10))], 0),
        ([("expires", format_http_date(T0 + 30)), ("expires", format_http_date(T0 + 60))], 0),
        ([("cache-control", "max-age=oops"), ("expires", format_http_date(T0 + 99))], 0),
        ([("cache-control", "max-age=20, max-age=30")], 0),
    ],
)
def test_explicit_freshness_precedence(headers: list[tuple[str, str]], expected: float) -> None:
    assert lifetime(*headers) == expected


def test_a_private_cache_ignores_s_maxage() -> None:
    assert (
        lifetime(("cache-control", "s-maxage=10, max-age=20"), policy=HttpPolicy(shared=False))
        == 20
    )


def test_heuristic_is_a_fraction_of_the_last_modified_age_and_bounded() -> None:
    ten_days = 10 * 86400
    headers = [("date", DATE), ("last-modified", format_http_date(T0 - ten_days))]
    assert lifetime(*headers) == 86400  # 10 % of 10 days
    assert lifetime(*headers, policy=HttpPolicy(heuristic_fraction=0.05)) == 43200
    assert lifetime(*headers, policy=HttpPolicy(heuristic_max=600)) == 600
    assert lifetime(("date", DATE), ("last-modified", format_http_date(T0 + 5))) == 0  # future


@pytest.mark.parametrize(
    ("status", "directive", "heuristic"),
    [
        (200, None, True),
        (301, None, True),
        (404, None, False),
        (500, None, False),
        (302, None, False),
        (302, "public", True),
        (404, "public", False),
    ],
)
def test_heuristics_apply_to_heuristic_statuses_and_public(
    status: int, directive: str | None, heuristic: bool
) -> None:
    headers = [("date", DATE), ("last-modified", format_http_date(T0 - 1000))]
    if directive:
        headers.append(("cache-control", directive))
    assert (lifetime(*headers, status=status) == 100) is heuristic


def test_no_heuristic_when_explicit_freshness_exists() -> None:
    last_modified = ("last-modified", format_http_date(T0 - 100000))
    assert lifetime(("date", DATE), ("expires", "0"), last_modified) == 0


def test_targeted_field_replaces_cache_control_and_expires() -> None:
    policy = HttpPolicy(targeted_fields=("cdn-cache-control",))
    headers = [
        ("cache-control", "max-age=5"),
        ("expires", "0"),
        ("cdn-cache-control", "max-age=600"),
    ]
    assert lifetime(*headers, policy=policy) == 600
    assert lifetime(*headers) == 5  # without the target list
    # An invalid targeted field falls back to Cache-Control.
    assert (
        lifetime(
            ("cache-control", "max-age=5"), ("cdn-cache-control", "max-age=x y"), policy=policy
        )
        == 5
    )


def test_age_calculation_uses_age_header_delay_date_and_resident_time() -> None:
    # §4.2.3 with all parts: the origin says Age 30, the response took 2 s, Date is 10 s
    # before the response arrived; then it sits in the cache for 15 s.
    response = stored(
        ("date", format_http_date(T0 - 10)),
        ("age", "30"),
        ("cache-control", "max-age=100"),
        request_time=T0 - 2,
        response_time=T0,
    )
    assessment = assess(response, HttpPolicy())
    assert assessment.corrected_initial_age == 32  # max(apparent 10, 30 + 2)
    assert assessment.current_age(response, T0 + 15) == 47
    apparent = stored(("date", format_http_date(T0 - 40)), request_time=T0, response_time=T0)
    assert assess(apparent, HttpPolicy()).corrected_initial_age == 40


def test_an_invalid_age_is_ignored_but_date_still_ages_the_response() -> None:
    response = stored(
        ("age", "soon"),
        ("date", format_http_date(T0 - 40)),
        ("cache-control", "max-age=100"),
        request_time=T0,
        response_time=T0,
    )
    assert assess(response, HttpPolicy()).current_age(response, T0) == 40
    lower = stored(
        ("age", "5"),
        ("date", format_http_date(T0 - 40)),
        request_time=T0,
        response_time=T0,
    )
    # A smaller Age never makes a response younger than its Date says (RFC 9111 §4.2.3).
    assert assess(lower, HttpPolicy()).current_age(lower, T0) == 40


def test_reused_response_carries_its_current_age_and_ttl() -> None:
    world = World()
    world.fetch(
        get(),
        lambda _: ok(("cache-control", "max-age=100"), ("age", "7"), clock=world.clock),
        latency=1,
    )
    world.clock.advance(20)
    hit = world.fetch(get())
    assert hit.response.headers.get_all("age") == ["28"]  # 7 + 1 s delay + 20 s resident
    assert hit.cache_status == "hitbox; hit; ttl=72"


def test_response_stale_on_arrival_by_age_is_revalidated_not_served() -> None:
    world = World()
    world.fetch(
        get(),
        lambda _: ok(
            ("cache-control", "max-age=10"), ("age", "50"), ("etag", '"a"'), clock=world.clock
        ),
    )
    assert world.fetch(get(), lambda _: ok(status=304, clock=world.clock)).upstream
