"""Cached responses per second through HTTP caching middleware, compared in one run.

    .venv/bin/python benchmarks/bench_http.py            # about half a minute
    .venv/bin/python benchmarks/bench_http.py --quick    # fewer requests and rounds

Every contender serves the same 1 KiB text response, and every request after the first
is a cache hit. Requests are driven in-process straight into the ASGI application (no
sockets, no HTTP client), so the numbers measure the application and middleware, not the
server. Rounds alternate between contenders and the best round counts.

Contenders:

* ``starlette`` — the Starlette app, uncached (what a hit competes with);
* ``hitbox rfc`` — ``CacheMiddleware`` in RFC 9111 mode, memory backend (object mode);
* ``hitbox app-mode`` — ``CacheMiddleware`` with an application-mode route, memory backend;
* ``hishel`` — ``hishel.asgi.ASGICacheMiddleware`` (RFC mode), its SQLite storage in
  memory (hishel ships no in-process storage);
* ``fastapi`` — the same endpoint on FastAPI, uncached;
* ``fastapi-cache2`` — that endpoint under ``@cache()`` with its ``InMemoryBackend``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import hitbox
from fastapi import FastAPI
from fastapi_cache import FastAPICache
from fastapi_cache.backends.inmemory import InMemoryBackend
from fastapi_cache.decorator import cache as fastapi_cache
from hishel import AsyncSqliteStorage
from hishel.asgi import ASGICacheMiddleware
from hitbox_http import CacheMiddleware, Route, method, path
from hitbox_memory import MemoryBackend
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route as StarletteRoute

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for the report package
from report import format_text

BODY = "x" * 1024
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def starlette_app(headers: dict[str, str] | None = None) -> Starlette:
    async def page(request: Request) -> PlainTextResponse:
        return PlainTextResponse(BODY, headers=headers)

    return Starlette(routes=[StarletteRoute("/page", page)])


def fastapi_app(cached: bool) -> FastAPI:
    app = FastAPI()

    if cached:
        FastAPICache.init(InMemoryBackend(), prefix="bench")

        @app.get("/page")
        @fastapi_cache(expire=3600)
        async def cached_page() -> dict[str, str]:
            return {"body": BODY}
    else:

        @app.get("/page")
        async def page() -> dict[str, str]:
            return {"body": BODY}

    return app


def contenders() -> dict[str, App]:
    public = {"cache-control": "public, max-age=3600"}
    cache = hitbox.Cache(MemoryBackend())
    routes = [Route(method("GET") & path("/page"), ttl=3600)]
    return {
        "starlette": starlette_app(),
        "hitbox rfc": CacheMiddleware(starlette_app(public), cache=cache),
        "hitbox app-mode": CacheMiddleware(
            starlette_app(), cache=hitbox.Cache(MemoryBackend()), routes=routes
        ),
        "hishel": ASGICacheMiddleware(
            starlette_app(public), storage=AsyncSqliteStorage(database_path=":memory:")
        ),
        "fastapi": fastapi_app(cached=False),
        "fastapi-cache2": fastapi_app(cached=True),
    }


SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/page",
    "raw_path": b"/page",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"host", b"bench.local"), (b"accept", b"*/*")],
    "server": ("bench.local", 80),
    "client": ("127.0.0.1", 50000),
}


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def run(app: App, requests: int) -> float:
    """Seconds for ``requests`` sequential requests; checks each one succeeded."""
    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.perf_counter()
    for _ in range(requests):
        await app(dict(SCOPE), receive, send)
    elapsed = time.perf_counter() - started
    assert set(statuses) == {200}, f"unexpected statuses {set(statuses)}"
    return elapsed


LABELS = {
    "starlette": "starlette, uncached",
    "hitbox rfc": "hitbox rfc",
    "hitbox app-mode": "hitbox app-mode",
    "hishel": "hishel",
    "fastapi": "fastapi, uncached",
    "fastapi-cache2": "fastapi-cache2",
}


async def measure(requests: int, rounds: int) -> dict[str, float]:
    """Requests per second of every contender: the best of ``rounds`` interleaved rounds."""
    apps = contenders()
    for app in apps.values():  # warm up: the first request fills each cache
        await run(app, 50)
    best = dict.fromkeys(apps, float("inf"))
    for _ in range(rounds):
        for name, app in apps.items():
            best[name] = min(best[name], await run(app, requests))
    return {name: requests / seconds for name, seconds in best.items()}


async def collect(quick: bool) -> dict[str, Any]:
    """The benchmark report's entry point (see ``benchmarks/report/protocol.py``)."""
    requests = 2_000 if quick else 10_000
    rounds = 3 if quick else 5
    rates = await measure(requests, rounds)
    return {
        "title": "HTTP caching middleware",
        "description": (
            "Cached 1 KiB responses per second through each caching middleware, driven "
            "in-process straight into the ASGI application (no sockets, no HTTP client), so "
            "the numbers measure application and middleware. Every request after the first "
            "is a hit. Hitbox runs `CacheMiddleware` on the memory backend in RFC 9111 mode "
            "and in application mode; hishel's ASGI middleware uses its SQLite storage in "
            "memory (it ships no in-process storage); fastapi-cache2 uses its "
            "`InMemoryBackend`. Rounds alternate between contenders; the best round counts."
        ),
        "parameters": {"requests per round": requests, "rounds": rounds},
        "tables": [
            {
                "id": "hits",
                "title": "Cache hits, requests per second",
                "columns": ["contender", "requests/s"],
                "rows": [[LABELS[name], rate] for name, rate in rates.items()],
                "metric": {"column": "requests/s", "better": "higher"},
                "baseline": LABELS["starlette"],
                "hitbox_row": LABELS["hitbox rfc"],
                "peers": [LABELS["hishel"], LABELS["fastapi-cache2"]],
                "notes": ["Target (issue 7): at least 2x hishel and fastapi-cache2 on hits."],
            }
        ],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and rounds")
    print(format_text(asyncio.run(collect(parser.parse_args().quick))))
