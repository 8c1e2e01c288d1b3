"""Stale-prohibiting directives hold on every path that may serve stale (RFC 9111 §4.2.4).

``must-revalidate``, ``no-cache`` and, in a shared cache, ``proxy-revalidate`` and
``s-maxage`` forbid serving a stored response stale: not when the origin is down or
answers 5xx (``stale-if-error``, the policy's own ``stale_if_error``), not under
``stale-while-revalidate`` (background revalidation), not for a request's ``max-stale``,
and not through the core's ``max_stale``/``stale_if_error`` in application mode. Each
test has a control path without the directive that *is* served stale, so it can fail.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import hitbox
import httpx
import pytest
from hitbox_http import AsyncCacheTransport, CacheMiddleware, HttpCache, HttpPolicy, Route, path
from hitbox_http._proxy import CachingProxy
from hitbox_memory import MemoryBackend

from tests.http.asgi_apps import Origin, client
from tests.http.servers import serve
from tests.support import free_port

FORBIDDING = ["must-revalidate", "proxy-revalidate", "no-cache", "s-maxage=10"]
ALLOWING = "public"  # the control: the same response without a forbidding directive
ALL = [*FORBIDDING, ALLOWING]
STALE_EVERYTHING = "max-age=10, stale-if-error=600, stale-while-revalidate=600"


class Switch:
    """An origin whose answer the test changes: a body version, or a 503."""

    def __init__(self) -> None:
        self.status = 200
        self.version = "v1"

    def __call__(self, scope: Any, _: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        if self.status != 200:
            return self.status, [], b"unavailable"
        directive = scope["query_string"].decode()
        headers = [("cache-control", f"{STALE_EVERYTHING}, {directive}"), ("etag", self.version)]
        return 200, headers, self.version.encode()


class ShiftedClock:
    """Wall time plus an offset the test moves (the proxy runs in another thread)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


async def _settle(cache: HttpCache) -> None:
    """Wait for background revalidations (the proxy runs them in its own thread)."""
    for _ in range(500):
        if not cache.background_tasks:
            return
        await asyncio.sleep(0.01)


def _stale(response: httpx.Response) -> bool:
    return response.status_code == 200 and "detail=stale-" in response.headers["cache-status"]


# -- the reverse proxy, over loopback -----------------------------------------------------


@pytest.mark.services
async def test_proxy_never_serves_forbidden_stale_responses() -> None:
    clock = ShiftedClock()
    switch = Switch()
    port = free_port()
    # The policy's own stale_if_error (an out-of-band contract) must not override either.
    cache = HttpCache(MemoryBackend(), HttpPolicy(stale_if_error=600), clock=clock)
    proxy = CachingProxy(f"http://127.0.0.1:{port}", cache, timeout=2)
    with serve(proxy) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            with serve(Origin(switch), port=port):
                for directive in ALL:
                    assert (await http.get("/", params=directive)).text == "v1"
                clock.offset = 60  # stale, well inside every stale-* window
                switch.status = 503
                errors = {d: await http.get("/", params=d) for d in ALL}
                await _settle(cache)
                switch.status = 200
                switch.version = "v2"
                swr = {d: await http.get("/", params=d) for d in ALL}
                await _settle(cache)
            clock.offset = 120  # stale again; and the origin is gone now
            gone = {d: await http.get("/", params=d) for d in ALL}
            max_stale = {
                d: await http.get("/", params=d, headers={"cache-control": "max-stale=1000"})
                for d in ALL
            }
    for directive in FORBIDDING:
        assert errors[directive].status_code == 503, directive
        # stale-while-revalidate: asked the origin while the client waited.
        assert swr[directive].text == "v2", directive
        assert "fwd=stale" in swr[directive].headers["cache-status"], directive
        assert gone[directive].status_code == 502, directive
        assert max_stale[directive].status_code == 502, directive
    assert _stale(errors[ALLOWING])
    assert swr[ALLOWING].text == "v1"  # served stale, revalidated in the background
    assert _stale(gone[ALLOWING])
    assert max_stale[ALLOWING].status_code == 200


# -- the ASGI middleware, RFC mode ----------------------------------------------------------


@pytest.fixture
def clock() -> hitbox.ManualClock:
    return hitbox.ManualClock()


async def test_middleware_never_serves_forbidden_stale_responses(
    clock: hitbox.ManualClock,
) -> None:
    switch = Switch()
    origin = Origin(switch)
    # The core policy's max_stale/stale_if_error do not make RFC mode serve stale either.
    cache = hitbox.Cache(
        MemoryBackend(clock=clock),
        clock=clock,
        policy={"max_stale": 600, "stale_if_error": 600},
    )
    app = CacheMiddleware(origin, cache=cache, policy={"stale_if_error": 600})
    async with client(app) as http:
        for directive in ALL:
            await http.get("/", params=directive)
        await clock.advance(60)
        origin.fail = RuntimeError("origin down")
        crashed: dict[str, httpx.Response | None] = {}
        for directive in ALL:
            try:
                crashed[directive] = await http.get("/", params=directive)
            except RuntimeError:
                crashed[directive] = None
        origin.fail = None
        switch.status = 503
        errors = {d: await http.get("/", params=d) for d in ALL}
        switch.status = 200
        switch.version = "v2"
        swr = {d: await http.get("/", params=d) for d in ALL}
        await clock.settle()
    for directive in FORBIDDING:
        assert crashed[directive] is None, directive  # the application's own error
        assert errors[directive].status_code == 503, directive
        assert swr[directive].text == "v2", directive
    answer = crashed[ALLOWING]
    assert answer is not None
    assert _stale(answer)
    assert _stale(errors[ALLOWING])
    assert swr[ALLOWING].text == "v1"


# -- the httpx transport: a private cache ---------------------------------------------------


async def test_private_transport_honours_the_directives_that_apply_to_it(
    clock: hitbox.ManualClock,
) -> None:
    down = False

    def network(request: httpx.Request) -> httpx.Response:
        if down:
            raise httpx.ConnectError("network down", request=request)
        directive = request.url.query.decode()
        return httpx.Response(200, headers={"cache-control": f"{STALE_EVERYTHING}, {directive}"})

    transport = AsyncCacheTransport(
        httpx.MockTransport(network), cache=MemoryBackend(clock=clock), clock=clock
    )
    async with httpx.AsyncClient(transport=transport, base_url="https://api.example") as http:
        for directive in ALL:
            await http.get("/", params=directive)
        await clock.advance(60)
        down = True
        outcomes: dict[str, bool] = {}
        for directive in ALL:
            try:
                outcomes[directive] = _stale(await http.get("/", params=directive))
            except httpx.ConnectError:
                outcomes[directive] = False
    # proxy-revalidate and s-maxage address shared caches only (RFC 9111 §5.2.2.8, 10).
    assert outcomes == {
        "must-revalidate": False,
        "no-cache": False,
        "proxy-revalidate": True,
        "s-maxage=10": True,
        ALLOWING: True,
    }


# -- application mode: the core's max_stale / stale_if_error -------------------------------


async def test_application_mode_does_not_store_what_it_would_serve_stale(
    clock: hitbox.ManualClock,
) -> None:
    switch = Switch()
    origin = Origin(switch)
    cache = hitbox.Cache(MemoryBackend(clock=clock), clock=clock)
    routes = [Route(path("/"), ttl=10, max_stale=600, stale_if_error=600)]
    app = CacheMiddleware(origin, cache=cache, routes=routes)
    async with client(app) as http:
        first = {d: await http.get("/", params=d) for d in ALL}
        await clock.advance(60)
        origin.fail = RuntimeError("origin down")
        crashed: dict[str, httpx.Response | None] = {}
        for directive in ALL:
            try:
                crashed[directive] = await http.get("/", params=directive)
            except RuntimeError:
                crashed[directive] = None
        await clock.settle()
    for directive in FORBIDDING:
        assert not first[directive].headers["cache-status"].endswith("stored"), directive
        assert crashed[directive] is None, directive
    assert first[ALLOWING].headers["cache-status"].endswith("stored")
    answer = crashed[ALLOWING]
    assert answer is not None
    assert answer.text == "v1"


async def test_application_mode_stores_them_when_the_route_never_serves_stale(
    clock: hitbox.ManualClock,
) -> None:
    origin = Origin(Switch())
    cache = hitbox.Cache(MemoryBackend(clock=clock), clock=clock)
    app = CacheMiddleware(origin, cache=cache, routes=[Route(path("/"), ttl=10)])
    async with client(app) as http:
        await http.get("/", params="must-revalidate")
        hit = await http.get("/", params="must-revalidate")
        await clock.advance(60)
        origin.fail = RuntimeError("origin down")
        with pytest.raises(RuntimeError):
            await http.get("/", params="must-revalidate")
    assert hit.headers["cache-status"].startswith("hitbox; hit")


# -- a failing backend and an open breaker --------------------------------------------------


class _FlakyBackend(MemoryBackend):
    """A memory backend whose reads fail once ``broken`` is set."""

    broken = False

    async def get(self, key: str) -> hitbox.CachedValue | None:
        if self.broken:
            raise ConnectionError("backend down")
        return await super().get(key)


async def test_a_failing_backend_never_yields_a_stale_answer(clock: hitbox.ManualClock) -> None:
    backend = _FlakyBackend(clock=clock)
    # Failures over several keys open the core's breaker: application mode then skips
    # the backend; whether it is open or still trying, nothing stale may come back.
    cache = hitbox.Cache(backend, clock=clock, policy={"failure_threshold": 1})
    origin = Origin(Switch())
    routes = [Route(path("/app"), ttl=10, max_stale=600, stale_if_error=600)]
    app = CacheMiddleware(origin, cache=cache, routes=routes, policy={"stale_if_error": 600})
    async with client(app) as http:
        for target in ("/", "/app"):
            for directive in ALL:
                await http.get(target, params=directive)
        await clock.advance(60)
        backend.broken = True
        origin.fail = RuntimeError("origin down")
        for target in ("/", "/app"):
            for directive in ALL:
                with pytest.raises(RuntimeError):
                    await http.get(target, params=directive)
