"""A fresh process for the warm-start tests: ``python -m tests.faults._cold_start URL MODE``.

Builds a cache from ``URL`` with default settings, calls a cached function for three
keys, twice (each round concurrently), and prints one JSON line: how many times the
upstream ran and the cache's counters. ``MODE`` is ``with`` (inside ``async with
cache:``), ``open`` (an explicit ``await cache.open()`` first) or ``lazy`` (neither: the
first call opens the backend). A fresh process is the point: nothing (an AWS session,
a connection, a SQLite schema) is warm when the first call arrives.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid

import hitbox

KEYS = ("a", "b", "c")


async def _run(url: str, mode: str) -> dict[str, object]:
    cache = hitbox.Cache.from_url(url, namespace=f"cold-{uuid.uuid4().hex}")
    upstream_calls = 0

    @cache.cached(key="cold:{name}", ttl=60)
    async def load(name: str) -> str:
        nonlocal upstream_calls
        upstream_calls += 1
        return f"value of {name}"

    async def two_rounds() -> list[str]:
        values: list[str] = []
        for _ in range(2):
            values += await asyncio.gather(*(load(name) for name in KEYS))
        return values

    opened: bool | None = None
    if mode == "with":
        async with cache:
            values = await two_rounds()
    else:
        if mode == "open":
            opened = await cache.open()
        values = await two_rounds()
        await cache.aclose()
    stats = cache.stats()
    return {
        "upstream_calls": upstream_calls,
        "opened": opened,
        "right": values == [f"value of {name}" for name in KEYS] * 2,
        "hits": stats.hits,
        "errors": stats.errors,
    }


def main() -> None:
    """Run the scenario of ``sys.argv`` and print its JSON line."""
    url, mode = sys.argv[1], sys.argv[2]
    print(json.dumps(asyncio.run(_run(url, mode))))


if __name__ == "__main__":
    main()
