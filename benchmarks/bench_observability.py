"""What observing a cache costs: a memory-backend hit with and without event listeners.

    .venv/bin/python benchmarks/bench_observability.py            # a few seconds
    .venv/bin/python benchmarks/bench_observability.py --quick    # fewer calls and rounds
    .venv/bin/python benchmarks/bench_observability.py --json out.json

Every contender is a ``hitbox.Cache`` over the same kind of memory backend, answering
the same hit, through the decorator (``@cache.cached``) and through ``cache.fetch``:

* ``none`` — no listener: the cache builds no event (the decorator's fast path applies);
* ``null`` — a listener that does nothing: the price of building and dispatching events;
* ``prometheus`` — :class:`PrometheusMetrics` (counters and histograms, no scrape);
* ``otel-noop`` — :class:`OpenTelemetryInstrumentation` on the API's no-op providers
  (an application that has not configured the SDK);
* ``otel-sdk`` — the same on SDK providers recording every span (always-on sampling,
  no exporter) and an in-memory metric reader.

Rounds alternate between contenders and the best round counts. Ratios are against
``none``. ``benchmarks/run_all.py`` calls :func:`collect` for the report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import hitbox
from hitbox.plugins import PluginManager
from hitbox_memory import MemoryBackend
from hitbox_observability.opentelemetry import OpenTelemetryInstrumentation
from hitbox_observability.prometheus import PrometheusMetrics
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NoOpTracerProvider
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for the report package
from report import validate


class NullListener:
    """Receives every event and does nothing with it."""

    @hitbox.hookimpl
    def hitbox_cache_event(self, event: hitbox.CacheEvent) -> None:
        return None


class Request:
    def cache_key(self) -> str:
        return "bench:key"

    def cache_ttl(self) -> float:
        return 3600.0


async def upstream(request: Request) -> int:
    return 42


def listeners() -> dict[str, object | None]:
    return {
        "none": None,
        "null": NullListener(),
        "prometheus": PrometheusMetrics(CollectorRegistry()),
        "otel-noop": OpenTelemetryInstrumentation(
            tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider()
        ),
        "otel-sdk": OpenTelemetryInstrumentation(
            tracer_provider=TracerProvider(),
            meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]),
        ),
    }


def make_cache(listener: object | None) -> hitbox.Cache:
    manager = PluginManager(disabled={"prometheus", "opentelemetry"})
    if listener is not None:
        manager.register(listener, "bench-listener")
    return hitbox.Cache(MemoryBackend(max_entries=1000), plugins=manager, policy={"ttl": 3600})


async def per_call(call: Callable[[], Awaitable[object]], calls: int) -> float:
    """Nanoseconds per awaited call."""
    started = time.perf_counter_ns()
    for _ in range(calls):
        await call()
    return (time.perf_counter_ns() - started) / calls


async def run(calls: int, rounds: int) -> dict[str, dict[str, float]]:
    paths: dict[str, dict[str, Callable[[], Awaitable[object]]]] = {}
    for name, listener in listeners().items():
        cache = make_cache(listener)

        @cache.cached(key="bench:{x}")
        async def compute(x: int) -> int:
            return x

        request = Request()

        async def fetch(cache: hitbox.Cache = cache, request: Request = request) -> object:
            return await cache.fetch(request, upstream)

        async def cached(compute: Callable[[int], Awaitable[int]] = compute) -> object:
            return await compute(1)

        await fetch()
        await cached()  # both entries stored: every measured call is a hit
        paths[name] = {"cached": cached, "fetch": fetch}

    best: dict[str, dict[str, float]] = {name: {} for name in paths}
    for _ in range(rounds):
        for name, calls_by_path in paths.items():
            for path, call in calls_by_path.items():
                ns = await per_call(call, calls)
                best[name][path] = min(ns, best[name].get(path, float("inf")))
    return best


async def collect(quick: bool) -> dict[str, Any]:
    """The benchmark report's entry point (see ``benchmarks/report/protocol.py``)."""
    calls, rounds = (5_000, 3) if quick else (20_000, 7)
    best = await run(calls, rounds)
    return validate(  # type: ignore[return-value]
        {
            "title": "Observability: the cost of listeners on a hit",
            "description": (
                "A `hitbox.Cache` over the memory backend answering the same hit through "
                "`@cache.cached` and through `cache.fetch`, with no listener (no event is "
                "built), a listener that does nothing, `PrometheusMetrics`, and "
                "`OpenTelemetryInstrumentation` on the API's no-op providers and on SDK "
                "providers recording every span (no exporter). Rounds alternate between "
                "contenders; the best round counts."
            ),
            "parameters": {"calls": calls, "rounds": rounds},
            "tables": [
                {
                    "id": "listeners",
                    "title": "Time per hit by listener",
                    "columns": ["listener", "cached ns", "fetch ns"],
                    "rows": [
                        [name, by_path["cached"], by_path["fetch"]]
                        for name, by_path in best.items()
                    ],
                    "metric": {"column": "cached ns", "better": "lower"},
                    "baseline": "none",
                }
            ],
        }
    )


def report(best: dict[str, dict[str, float]]) -> None:
    base = best["none"]
    print(f"{'listener':<12} {'cached hit':>12} {'ratio':>7} {'fetch hit':>12} {'ratio':>7}")
    for name, by_path in best.items():
        cells = []
        for path in ("cached", "fetch"):
            cells.append(f"{by_path[path]:>9.0f} ns {by_path[path] / base[path]:>6.2f}x")
        print(f"{name:<12} " + " ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=None, help="calls per round: 20000")
    parser.add_argument("--rounds", type=int, default=None, help="7")
    parser.add_argument("--quick", action="store_true", help="5000 calls, 3 rounds")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    calls = args.calls or (5_000 if args.quick else 20_000)
    rounds = args.rounds or (3 if args.quick else 7)
    best = asyncio.run(run(calls, rounds))
    report(best)
    if args.json is not None:
        args.json.write_text(json.dumps({"ns_per_hit": best}, indent=2))


if __name__ == "__main__":
    main()
