"""``Age`` from the origin (RFC 9111 §5.1, §4.2.3): first member of a list, invalid values
ignored, and never younger than ``Date`` says — through the proxy over loopback and
through the middleware."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import hitbox
import httpx
import pytest
from hitbox_http import CacheMiddleware, HttpCache, HttpPolicy, format_http_date
from hitbox_http._proxy import CachingProxy
from hitbox_memory import MemoryBackend

from tests.http.asgi_apps import Origin, client
from tests.http.servers import serve

# path -> (Age lines, seconds the Date lies in the past, expected age of the hit)
CASES: dict[str, tuple[list[str], int, int]] = {
    "/list": (["30, 50"], 0, 30),
    "/repeated": (["30", "90"], 0, 30),
    "/empty-first": ([", 20"], 0, 20),
    "/invalid": (["soon"], 0, 0),
    "/negative": (["-5"], 0, 0),
    "/invalid-first": (["x, 50"], 0, 0),
    "/invalid-but-dated": (["soon"], 40, 40),
    "/younger-than-date": (["5"], 40, 40),
}


def handler(now: Callable[[], float]) -> Any:
    def answer(scope: Any, _: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        lines, date_offset, _ = CASES[scope["path"]]
        headers = [
            ("cache-control", "max-age=100"),
            ("date", format_http_date(now() - date_offset)),
        ]
        headers += [("age", line) for line in lines]
        return 200, headers, b"aged"

    return answer


def check(hits: dict[str, httpx.Response]) -> None:
    for path, (_, _, expected) in CASES.items():
        response = hits[path]
        assert response.headers["cache-status"].startswith("hitbox; hit"), path
        assert response.headers.get_list("age") == [response.headers["age"]], path  # one line
        assert int(response.headers["age"]) == expected, path


async def test_middleware_reads_age_as_rfc_9111_says() -> None:
    clock = hitbox.ManualClock(1_700_000_000.0)
    origin = Origin(handler(clock.now))
    cache = hitbox.Cache(MemoryBackend(clock=clock), clock=clock)
    async with client(CacheMiddleware(origin, cache=cache)) as http:
        for path in CASES:
            await http.get(path)
        hits = {path: await http.get(path) for path in CASES}
    check(hits)


@pytest.mark.services
async def test_proxy_reads_age_as_rfc_9111_says() -> None:
    # One clock that stands still for the origin's Date and the proxy: exact ages.
    frozen = float(int(time.time()))  # whole seconds, as Date carries them
    origin = Origin(handler(lambda: frozen))
    with serve(origin) as upstream:
        proxy = CachingProxy(
            upstream, HttpCache(MemoryBackend(), HttpPolicy(), clock=lambda: frozen)
        )
        with serve(proxy) as url:
            async with httpx.AsyncClient(base_url=url) as http:
                for path in CASES:
                    await http.get(path)
                hits = {path: await http.get(path) for path in CASES}
    check(hits)


async def test_an_age_past_the_lifetime_is_not_stored() -> None:
    clock = hitbox.ManualClock(1_700_000_000.0)
    origin = Origin(
        lambda scope, _: (200, [("cache-control", "max-age=100"), ("age", "200, 1")], b"")
    )
    cache = hitbox.Cache(MemoryBackend(clock=clock), clock=clock)
    async with client(CacheMiddleware(origin, cache=cache)) as http:
        first = await http.get("/")
    assert first.headers["cache-status"].endswith("detail=stale-on-arrival")
