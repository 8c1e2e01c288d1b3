"""What the cache adds to a remote backend's hit: the state machine, the guard, timeouts.

    .venv/bin/python benchmarks/bench_remote_hit.py            # a few seconds

The backend is in-process but declares ``is_local = False`` and stores bytes, as a
remote one does; its ``get`` returns at once, so what is measured is the cache's own
overhead around the backend call. Contenders: the bare ``backend.get`` (the floor), a
decorated function's hit, and ``cache.fetch``'s hit. Rounds alternate; the best round
counts; overhead is reported in µs per hit above the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import hitbox
from hitbox import CachedValue
from hitbox.plugins import PluginManager


class InstantRemote(hitbox.Backend):
    """A dict behind the remote-backend contract (bytes, no object mode, needs timeouts)."""

    is_local = False
    stores_objects = False

    def __init__(self) -> None:
        self.data: dict[str, CachedValue] = {}

    async def get(self, key: str) -> CachedValue | None:
        return self.data.get(key)

    async def set(self, key: str, value: CachedValue, ttl: float) -> None:
        self.data[key] = value.without_value()

    async def delete(self, key: str) -> None:
        self.data.pop(key, None)


class Request:
    def cache_key(self) -> str:
        return "bench:req"

    def cache_ttl(self) -> float:
        return 3600.0


async def upstream(request: Request) -> int:
    return 42


async def per_call(call: Callable[[], Awaitable[object]], calls: int) -> float:
    """Nanoseconds per awaited call."""
    started = time.perf_counter_ns()
    for _ in range(calls):
        await call()
    return (time.perf_counter_ns() - started) / calls


async def run(calls: int, rounds: int) -> dict[str, float]:
    backend = InstantRemote()
    cache = hitbox.Cache(
        backend,
        plugins=PluginManager(disabled={"prometheus", "opentelemetry"}),
        policy={"ttl": 3600},
    )

    @cache.cached(key="bench:{x}")
    async def compute(x: int) -> int:
        return x

    request = Request()
    await compute(1)
    await cache.fetch(request, upstream)
    key = next(iter(backend.data))

    async def floor() -> object:
        return await backend.get(key)

    async def cached() -> object:
        return await compute(1)

    async def fetch() -> object:
        return await cache.fetch(request, upstream)

    contenders = {"backend.get": floor, "cached hit": cached, "fetch hit": fetch}
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, call in contenders.items():
            best[name] = min(await per_call(call, calls), best.get(name, float("inf")))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    best = asyncio.run(run(args.calls, args.rounds))
    floor = best["backend.get"]
    print(f"{'path':<12} {'ns/call':>9} {'overhead µs':>12} {'ratio':>7}")
    for name, ns in best.items():
        print(f"{name:<12} {ns:>9.0f} {(ns - floor) / 1000:>12.2f} {ns / floor:>6.1f}x")


if __name__ == "__main__":
    main()
