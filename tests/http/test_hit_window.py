"""A kept hit answer (hitbox_http._hit_window) is the spec's own answer at every instant of
its window: checked over arbitrary freshness, ages and request directives."""

from __future__ import annotations

from hitbox_http import Forward, Headers, Hit, HttpCacheSpec, HttpPolicy, Request
from hitbox_http._hit_window import unchanged_until
from hitbox_http._store import Lookup
from hypothesis import assume, given, settings
from hypothesis import strategies as st

START = 1_700_000_000.0

request_directives = st.sampled_from(
    [
        None,
        "max-age=3",
        "max-age=0",
        "min-fresh=2",
        "max-stale=5",
        "max-stale",
        "no-cache",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    max_age=st.integers(min_value=0, max_value=20),
    incoming_age=st.integers(min_value=0, max_value=5),
    delay=st.floats(min_value=0, max_value=2),
    elapsed=st.floats(min_value=0, max_value=25),
    directive=request_directives,
    stale_while_revalidate=st.booleans(),
    probes=st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=8),
)
def test_the_answer_is_the_same_at_every_instant_of_its_window(
    max_age: int,
    incoming_age: int,
    delay: float,
    elapsed: float,
    directive: str | None,
    stale_while_revalidate: bool,
    probes: list[float],
) -> None:
    policy = HttpPolicy()
    now = [START]
    spec = HttpCacheSpec(policy, clock=lambda: now[0])
    fields = [
        (
            "cache-control",
            f"max-age={max_age}"
            + (", stale-while-revalidate=30" if stale_while_revalidate else ""),
        )
    ]
    if incoming_age:
        fields.append(("age", str(incoming_age)))
    request = Request("GET", "https://example.com/x", Headers())
    miss = spec.on_request(request, [])
    assert isinstance(miss, Forward)
    plan = spec.on_response(
        miss, 200, Headers(fields), request_time=START, response_time=START + delay
    )
    assume(plan.store is not None)  # max-age=0 with a delay: nothing to keep
    assert plan.store is not None
    stored = plan.store.with_body(b"body")
    asked = Request(
        "GET",
        "https://example.com/x",
        Headers([("cache-control", directive)] if directive else []),
    )
    now[0] = START + delay + elapsed
    hit = spec.on_request(asked, [stored])
    assume(isinstance(hit, Hit))  # the window is only asked for hits
    assert isinstance(hit, Hit)
    lookup = Lookup("k", [stored], found_any=True)
    until = unchanged_until(spec, asked, lookup, hit, now[0])
    if hit.revalidate is not None:
        assert until <= now[0]  # a stale-while-revalidate answer is never kept
        return
    assert until < now[0] + 1.0
    start = now[0]
    for fraction in probes:
        now[0] = start + (until - start) * fraction
        again = spec.on_request(asked, [stored])
        assert isinstance(again, Hit)
        assert again.response == hit.response, (now[0] - start, until - start)
