"""RFC mode runs through the core state machine: events, single-flight and its limits."""

from __future__ import annotations

import asyncio
from typing import Any

import hitbox
import pytest
from hitbox_http import CacheMiddleware
from hitbox_memory import MemoryBackend

from tests.core._cache_fakes import EventRecorder, make_cache
from tests.http.asgi_apps import (
    Origin,
    RawExchange,
    client,
    event_stream_app,
    fixed,
    header_of,
)

S = hitbox.State


@pytest.fixture
def clock() -> hitbox.ManualClock:
    return hitbox.ManualClock()


def _cache(clock: hitbox.ManualClock, recorder: EventRecorder | None = None) -> hitbox.Cache:
    return make_cache(MemoryBackend(clock=clock), clock=clock, recorder=recorder)


async def test_each_request_is_one_run_with_its_state_path(clock: hitbox.ManualClock) -> None:
    recorder = EventRecorder()
    origin = Origin(fixed(200, ("cache-control", "max-age=10, stale-while-revalidate=60")))
    app = CacheMiddleware(origin, cache=_cache(clock, recorder))
    async with client(app) as http:
        await http.get("/page?token=s3cret")
        await http.get("/page?token=s3cret")
        await clock.advance(15)
        await http.get("/page?token=s3cret")
        await clock.settle()
    assert recorder.paths() == [
        (S.PENDING, S.MISS, S.RESPONSE),
        (S.PENDING, S.HIT, S.RESPONSE),
        (S.PENDING, S.STALE, S.RESPONSE),
        (S.MISS, S.RESPONSE),  # the background revalidation
    ]
    assert [e.operation for e in recorder.events] == ["http", "http", "http", "refresh"]
    assert {e.cache for e in recorder.events} == {"default"}  # the hitbox.Cache's name
    assert len(origin.calls) == 2
    # The key in events is a digest: URLs and their query strings stay out of traces.
    assert len({e.key for e in recorder.events}) == 1
    assert all("s3cret" not in e.key and "page" not in e.key for e in recorder.events)


async def test_waiters_with_another_variant_ask_the_origin(clock: hitbox.ManualClock) -> None:
    def by_language(scope: Any, _: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        language = header_of(scope, "accept-language") or ""
        headers = [("cache-control", "max-age=60"), ("vary", "accept-language")]
        return 200, headers, language.encode()

    origin = Origin(by_language, delay=0.05)
    languages = ["en", "fr", "en", "fr", "en"]
    async with client(CacheMiddleware(origin, cache=_cache(clock))) as http:
        responses = await asyncio.gather(
            *(http.get("/greeting", headers={"accept-language": lang}) for lang in languages)
        )
    assert [r.text for r in responses] == languages
    # One leader; waiters of its language reuse its response, the others go upstream.
    assert len(origin.calls) in (3, 4)


async def test_waiters_do_not_wait_for_an_unstored_stream(clock: hitbox.ManualClock) -> None:
    release = asyncio.Event()
    # The manual clock never runs out a lock timeout: a waiter not let go would hang.
    app = CacheMiddleware(event_stream_app(release), cache=_cache(clock))
    first, second = RawExchange(), RawExchange()
    leader = asyncio.create_task(app(RawExchange.scope("/events"), first.receive, first.send))
    await asyncio.wait_for(_first_event(first), 5)
    waiter = asyncio.create_task(app(RawExchange.scope("/events"), second.receive, second.send))
    await asyncio.wait_for(_first_event(second), 5)
    assert not leader.done()
    release.set()
    await asyncio.wait_for(asyncio.gather(leader, waiter), 5)
    first.disconnected.set()
    second.disconnected.set()


async def _first_event(exchange: RawExchange) -> None:
    while not any(m.get("body") == b"data: 1\n\n" for m in exchange.messages):
        exchange.arrived.clear()
        await exchange.arrived.wait()


async def test_unstored_responses_are_fetched_in_parallel_not_in_turn(
    clock: hitbox.ManualClock,
) -> None:
    running = 0
    most = 0

    def private(scope: Any, _: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        return 200, [("cache-control", "private, max-age=60")], b"mine"

    class Counting(Origin):
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            nonlocal running, most
            running += 1
            most = max(most, running)
            try:
                await super().__call__(scope, receive, send)
            finally:
                running -= 1

    origin = Counting(private, delay=0.05)
    async with client(CacheMiddleware(origin, cache=_cache(clock))) as http:
        await asyncio.gather(*(http.get("/me") for _ in range(4)))
    assert len(origin.calls) == 4
    # The waiters were let go together as soon as the leader's response proved private,
    # not one new leader after another (which would keep this at 1).
    assert most >= 3
