"""Faults: what callers and the upstream see when the backend dies, freezes or is poisoned.

Every scenario runs a real server (a private ``redis-server`` on a free loopback port, or
a SQLite file in a temp dir), a :class:`hitbox.Cache` with **default settings** (only a
``ttl`` is set) and many concurrent tasks calling a cached function whose upstream takes
1 ms. A sampler reads ``cache.stats().hits`` and ``cache.breaker_state`` every 10 ms.
The scenarios are those of issue #14's "Done when", each bounded in time:

- ``kill``: Redis SIGKILLed under 100 tasks, restarted 2 s later: caller exceptions,
  wrong values, seconds from the restart until the first hit (target: 0, 0, <= 1 s).
- ``stop``: Redis frozen by SIGSTOP for 3 s: the slowest call, seconds from SIGCONT
  until the first hit (target: <= 0.75 s, <= 1 s).
- ``poison``: one 50 MB value planted in one of 500 keys under 100 tasks for 10 s:
  whether the breaker opened, the other keys' hit ratio (target: never, >= 99 %).
- ``big``: a cached function returning 32 MB called in a loop beside 20 tasks on small
  keys for 10 s: breaker opened, the small keys' hit ratio (target: never, >= 99 %).
- ``sqlite``: 4 processes x 50 tasks on one SQLite file, ``lock="distributed"``, ttl 5 s,
  for 12 s: exceptions, hit ratio, breaker opened in any process (target: 0, >= 95 %,
  never).

It prints a table, ``--json PATH`` writes the numbers, and ``benchmarks/run_all.py``
calls :func:`collect`. Timings on a shared machine are indicative. Run by hand::

    .venv/bin/python benchmarks/bench_faults.py [--quick] [--only kill stop] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.redis_servers
sys.path.insert(0, str(Path(__file__).resolve().parent))  # for the report package

import hitbox
from hitbox_redis import RedisBackend
from redis.asyncio import Redis
from report import format_text

from tests.redis_servers import RedisServer

UPSTREAM_DELAY = 0.001
SAMPLE_EVERY = 0.01

Row = list[Any]


@dataclass
class Tally:
    """What the callers saw."""

    calls: Counter[int] = field(default_factory=Counter)
    upstream: Counter[int] = field(default_factory=Counter)
    exceptions: int = 0
    wrong: int = 0
    slowest: float = 0.0

    def hit_ratio(self, keys: Callable[[int], bool] = lambda _: True) -> float | None:
        """1 - upstream calls / calls, over the keys ``keys`` accepts."""
        calls = sum(n for key, n in self.calls.items() if keys(key))
        upstream = sum(n for key, n in self.upstream.items() if keys(key))
        return None if not calls else 1 - upstream / calls


class Workload:
    """``tasks`` tasks calling ``cache``'s cached function on random keys of ``range(keys)``."""

    def __init__(
        self, cache: hitbox.Cache, keys: int, value: Callable[[int], Any] = lambda n: f"v{n}"
    ) -> None:
        self.keys = keys
        self.value = value
        self.tally = Tally()
        self.running = True

        @cache.cached(key="fault:{n}")
        async def load(n: int) -> Any:
            self.tally.upstream[n] += 1
            await asyncio.sleep(UPSTREAM_DELAY)
            return value(n)

        self.load = load

    async def call(self, n: int) -> None:
        """One call of key ``n``, tallied."""
        started = time.perf_counter()
        try:
            result = await self.load(n)
        except Exception:
            self.tally.exceptions += 1
        else:
            if result != self.value(n):
                self.tally.wrong += 1
        self.tally.slowest = max(self.tally.slowest, time.perf_counter() - started)
        self.tally.calls[n] += 1

    async def task(self, seed: int, keys: range | None = None) -> None:
        """Call random keys (of ``keys``, default all) until :attr:`running` is cleared."""
        rng = random.Random(seed)
        choices = keys if keys is not None else range(self.keys)
        while self.running:
            await self.call(rng.choice(choices))

    def reset(self) -> None:
        """Forget the warm-up."""
        self.tally = Tally()


class Sampler:
    """``(time, hits, breaker state)`` of a cache every 10 ms."""

    def __init__(self, cache: hitbox.Cache) -> None:
        self.cache = cache
        self.samples: list[tuple[float, int, str]] = []
        self.hit = asyncio.Event()
        """Set at the first new hit after :meth:`watch` was called."""
        self._base: int | None = None

    async def run(self) -> None:
        while True:
            hits = self.cache.stats().hits
            self.samples.append((time.monotonic(), hits, self.cache.breaker_state))
            if self._base is not None and hits > self._base:
                self.hit.set()
            await asyncio.sleep(SAMPLE_EVERY)

    def watch(self) -> None:
        """Set :attr:`hit` at the next new hit."""
        self._base = self.cache.stats().hits
        self.hit.clear()

    def hits_again(self, since: float) -> float | None:
        """Seconds from ``since`` to the first sample with a new hit (``None``: none)."""
        before = [hits for at, hits, _ in self.samples if at <= since]
        base = before[-1] if before else 0
        return next(
            (round(at - since, 3) for at, hits, _ in self.samples if at > since and hits > base),
            None,
        )

    def opened(self, since: float = 0.0) -> bool:
        """Whether the breaker left "closed" in a sample after ``since``."""
        return any(state != "closed" for at, _, state in self.samples if at >= since)


@contextlib.asynccontextmanager
async def running(workload: Workload, sampler: Sampler, tasks: int) -> AsyncIterator[None]:
    """The workload's tasks and the sampler, for the duration of the block."""
    background = [asyncio.create_task(workload.task(seed)) for seed in range(tasks)]
    background.append(asyncio.create_task(sampler.run()))
    try:
        yield
    finally:
        workload.running = False
        background[-1].cancel()
        await asyncio.gather(*background, return_exceptions=True)


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """A private ``redis-server`` on a free port, stopped at the end."""
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer.start(Path(tmp))
        try:
            yield server
        finally:
            server.stop()


def redis_cache(server: RedisServer) -> hitbox.Cache:
    """A cache with default settings but a ttl, on ``server``."""
    return hitbox.Cache(RedisBackend.from_url(server.url), policy={"ttl": 300})


async def until_hits(sampler: Sampler, since: float, limit: float) -> float | None:
    """Wait until a hit after ``since`` (then 0.3 s more) or ``limit`` seconds; the delay."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(sampler.hit.wait(), since + limit - time.monotonic())
    await asyncio.sleep(0.3)
    return sampler.hits_again(since)


async def scenario_kill(quick: bool) -> dict[str, Any]:
    """SIGKILL under 100 tasks, restart 2 s later."""
    with redis_server() as server:
        async with redis_cache(server) as cache:
            workload, sampler = Workload(cache, 500), Sampler(cache)
            async with running(workload, sampler, tasks=100):
                await asyncio.sleep(1.0)
                await asyncio.to_thread(server.kill)
                await asyncio.sleep(2.0)
                sampler.watch()
                await asyncio.to_thread(server.launch)
                restarted = time.monotonic()
                again = await until_hits(sampler, restarted, 6.0 if quick else 12.0)
    tally = workload.tally
    return {
        "caller exceptions": tally.exceptions,
        "wrong values": tally.wrong,
        "hits again after restart (s)": again,
        "slowest call (s)": round(tally.slowest, 3),
        "breaker opened": sampler.opened(),
    }


async def scenario_stop(quick: bool) -> dict[str, Any]:
    """SIGSTOP for 3 s under 100 tasks."""
    with redis_server() as server:
        async with redis_cache(server) as cache:
            workload, sampler = Workload(cache, 500), Sampler(cache)
            async with running(workload, sampler, tasks=100):
                await asyncio.sleep(1.0)
                server.freeze()
                await asyncio.sleep(3.0)
                sampler.watch()
                server.thaw()
                thawed = time.monotonic()
                again = await until_hits(sampler, thawed, 6.0 if quick else 12.0)
    tally = workload.tally
    return {
        "caller exceptions": tally.exceptions,
        "wrong values": tally.wrong,
        "slowest call (s)": round(tally.slowest, 3),
        "hits again after SIGCONT (s)": again,
        "breaker opened": sampler.opened(),
    }


async def scenario_poison(quick: bool) -> dict[str, Any]:
    """One 50 MB value in one of 500 keys, 100 tasks."""
    with redis_server() as server:
        async with redis_cache(server) as cache:
            workload, sampler = Workload(cache, 500), Sampler(cache)
            for n in range(500):  # every key cached before the poison
                await workload.call(n)
            raw = Redis.from_url(server.url, socket_timeout=30)
            await raw.set(workload.load.cache_key(0), b"x" * (50 * 1024 * 1024))
            await raw.aclose()
            workload.reset()
            async with running(workload, sampler, tasks=100):
                await asyncio.sleep(5.0 if quick else 10.0)
    tally = workload.tally
    return {
        "breaker opened": sampler.opened(),
        "other keys' hit ratio": _ratio(tally.hit_ratio(lambda n: n != 0)),
        "poisoned key: calls": tally.calls[0],
        "poisoned key: upstream calls": tally.upstream[0],
        "caller exceptions": tally.exceptions,
        "slowest call (s)": round(tally.slowest, 3),
    }


async def scenario_big(quick: bool) -> dict[str, Any]:
    """A 32 MB result called in a loop beside 20 tasks on 100 small keys."""
    big = b"x" * (32 * 1024 * 1024)
    with redis_server() as server:
        async with redis_cache(server) as cache:
            workload = Workload(cache, 101, value=lambda n: big if n == 0 else f"v{n}")
            sampler = Sampler(cache)
            for n in range(1, 101):
                await workload.call(n)
            workload.reset()
            big_caller = asyncio.create_task(workload.task(-1, range(1)))
            small = [asyncio.create_task(workload.task(s, range(1, 101))) for s in range(20)]
            watch = asyncio.create_task(sampler.run())
            await asyncio.sleep(5.0 if quick else 10.0)
            workload.running = False
            watch.cancel()
            await asyncio.gather(big_caller, *small, watch, return_exceptions=True)
    tally = workload.tally
    return {
        "breaker opened": sampler.opened(),
        "small keys' hit ratio": _ratio(tally.hit_ratio(lambda n: n != 0)),
        "32 MB calls": tally.calls[0],
        "32 MB upstream calls": tally.upstream[0],
        "caller exceptions": tally.exceptions,
        "wrong values": tally.wrong,
    }


async def sqlite_worker(path: str, seconds: float, start_at: float) -> dict[str, Any]:
    """One of the SQLite processes: 50 tasks on 200 keys, ``lock="distributed"``, ttl 5 s."""
    cache = hitbox.Cache.from_url(f"sqlite:///{path}", policy={"ttl": 5, "lock": "distributed"})
    async with cache:
        workload, sampler = Workload(cache, 200), Sampler(cache)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        async with running(workload, sampler, tasks=50):
            await asyncio.sleep(seconds)
    tally = workload.tally
    return {
        "calls": sum(tally.calls.values()),
        "upstream": sum(tally.upstream.values()),
        "exceptions": tally.exceptions,
        "wrong": tally.wrong,
        "opened": sampler.opened(),
        "slowest": tally.slowest,
    }


async def scenario_sqlite(quick: bool) -> dict[str, Any]:
    """4 processes x 50 tasks on one file."""
    seconds = 6.0 if quick else 12.0
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "faults.db")
        start_at = time.time() + 3.0  # every process imported and opened by then
        command = [sys.executable, __file__, "--sqlite-worker", path, str(seconds), str(start_at)]
        workers = [
            await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE) for _ in range(4)
        ]
        outputs = [await worker.communicate() for worker in workers]
    results = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    calls = sum(r["calls"] for r in results)
    upstream = sum(r["upstream"] for r in results)
    return {
        "exceptions": sum(r["exceptions"] for r in results),
        "wrong values": sum(r["wrong"] for r in results),
        "hit ratio": _ratio(1 - upstream / calls if calls else None),
        "breaker opened (processes)": sum(1 for r in results if r["opened"]),
        "calls": calls,
        "slowest call (s)": round(max(r["slowest"] for r in results), 3),
    }


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


SCENARIOS = {
    "kill": (scenario_kill, "Redis SIGKILL, restart 2 s later (100 tasks)"),
    "stop": (scenario_stop, "Redis SIGSTOP for 3 s (100 tasks)"),
    "poison": (scenario_poison, "One 50 MB value in one of 500 keys (100 tasks)"),
    "big": (scenario_big, "A 32 MB result beside 20 tasks on small keys"),
    "sqlite": (scenario_sqlite, 'SQLite, 4 processes x 50 tasks, lock="distributed", ttl 5 s'),
}

TARGETS = {
    ("kill", "caller exceptions"): "0",
    ("kill", "wrong values"): "0",
    ("kill", "hits again after restart (s)"): "<= 1",
    ("stop", "slowest call (s)"): "<= 0.75",
    ("stop", "hits again after SIGCONT (s)"): "<= 1",
    ("poison", "breaker opened"): "never",
    ("poison", "other keys' hit ratio"): ">= 0.99",
    ("big", "breaker opened"): "never",
    ("big", "small keys' hit ratio"): ">= 0.99",
    ("sqlite", "exceptions"): "0",
    ("sqlite", "hit ratio"): ">= 0.95",
    ("sqlite", "breaker opened (processes)"): "0",
}


async def measure(quick: bool, only: list[str]) -> dict[str, dict[str, Any]]:
    """Every selected scenario's measures, one after another."""
    results: dict[str, dict[str, Any]] = {}
    for name in only:
        scenario, title = SCENARIOS[name]
        print(f"running {name}: {title} ...", flush=True)
        results[name] = await scenario(quick)
    return results


def tables(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One report table per scenario: measure, value, target."""
    return [
        {
            "id": name,
            "title": SCENARIOS[name][1],
            "columns": ["measure", "value", "target"],
            "rows": [
                [measure_name, _cell(value), TARGETS.get((name, measure_name), "")]
                for measure_name, value in measures.items()
            ],
        }
        for name, measures in results.items()
    ]


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "never" if value is None else value


def report(results: dict[str, dict[str, Any]], quick: bool) -> dict[str, Any]:
    """The measures as a benchmark result (see ``benchmarks/README.md``)."""
    return {
        "title": "Faults: a killed, frozen or poisoned backend (default settings)",
        "description": __doc__.split("\n\n")[1] if __doc__ else "",
        "parameters": {"quick": quick},
        "notes": ["Targets are issue #14's; the breaker's probing lands separately."],
        "tables": tables(results),
    }


def collect(quick: bool) -> dict[str, Any]:
    """Every scenario, for ``benchmarks/run_all.py``."""
    return report(asyncio.run(measure(quick, list(SCENARIOS))), quick)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="shorter scenarios")
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--sqlite-worker", nargs=3, metavar=("PATH", "SECONDS", "START_AT"))
    args = parser.parse_args()
    if args.sqlite_worker:
        path, seconds, start_at = args.sqlite_worker
        print(json.dumps(asyncio.run(sqlite_worker(path, float(seconds), float(start_at)))))
        return
    results = asyncio.run(measure(args.quick, args.only))
    print(format_text(report(results, args.quick)))
    if args.json:
        args.json.write_text(json.dumps({"quick": args.quick, "results": results}, indent=2))
        print(f"written: {args.json}")


if __name__ == "__main__":
    main()
