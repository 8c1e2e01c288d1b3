"""Hit-path benchmark: a cached async function answering from memory, against peers.

Every contender wraps the same ``async def`` and is called sequentially with the same
argument, so every call after the first is a hit. Contenders, all in one run:

- floor: an ``async def`` doing one dict lookup (what any async cache must cost at least)
- cachetools: a ``TTLCache`` lookup (``hashkey`` of the arguments) inside an ``async def``
  wrapper — the tightest peer
- hitbox: ``@cache.cached`` on the in-memory backend (object mode): key built from the
  arguments, freshness checked, hit counted; the same with a key template; and with the
  memory backend's ``lru`` eviction (its default ``tinylfu`` keeps a lone new key in
  its admission window, where hits take a lock)
- moka-py, cachebox (Rust) and theine (Rust core): their decorators at recommended
  settings (theine in its recommended custom-key mode)
- aiocache: ``@cached`` on its default in-memory cache
- cashews: ``@cache`` on ``mem://`` with defaults
- dogpile.cache: a ``dogpile.cache.memory`` region's ``get_or_create`` (key from its own
  ``function_key_generator``) inside an ``async def`` wrapper, like the cachetools one

Prints the median time per hit over several rounds and the ratios (``benchmarks/run_all.py``
calls :func:`collect` for the report instead). Run by hand::

    .venv/bin/python benchmarks/bench_hit_path.py            # full run (~30 s)
    .venv/bin/python benchmarks/bench_hit_path.py --quick    # fewer rounds

The peers come from the ``bench`` dependency group (``uv sync --all-packages --all-groups``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import hitbox

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for the report package
from report import validate

Target = Callable[[int], Awaitable[Any]]

TTL = 600


async def upstream(item_id: int) -> dict[str, int]:
    return {"id": item_id, "stock": 3}


def make_floor() -> Target:
    table = {1: {"id": 1, "stock": 3}}

    async def floor(item_id: int) -> dict[str, int]:
        return table[item_id]

    return floor


def make_cachetools() -> Target:
    from cachetools import TTLCache
    from cachetools.keys import hashkey

    store: TTLCache[Any, Any] = TTLCache(maxsize=10_000, ttl=TTL)

    async def cachetools_wrapper(item_id: int) -> dict[str, int]:
        key = hashkey(item_id)
        try:
            return store[key]  # type: ignore[no-any-return]
        except KeyError:
            pass
        value = await upstream(item_id)
        store[key] = value
        return value

    return cachetools_wrapper


def make_hitbox(template: str | None = None, eviction: str = "tinylfu") -> Target:
    from hitbox_memory import MemoryBackend

    backend = MemoryBackend(max_entries=10_000, policy=eviction)  # type: ignore[arg-type]
    cache = hitbox.Cache(backend, policy=hitbox.Policy(ttl=TTL))
    return cache.cached(key=template)(upstream)


def make_moka() -> Target:
    from moka_py import cached

    return cached(maxsize=10_000, ttl=TTL)(upstream)  # type: ignore[no-any-return]


def make_cachebox() -> Target:
    from cachebox import TTLCache, cached

    return cached(TTLCache(10_000, TTL))(upstream)  # type: ignore[no-any-return]


def make_theine() -> Target:
    from datetime import timedelta

    from theine import Memoize

    # theine's recommended custom-key mode: the key function is the user's.
    memoized = Memoize(10_000, timedelta(seconds=TTL))(upstream)

    @memoized.key
    def _key(item_id: int) -> str:
        return f"item:{item_id}"

    return memoized  # type: ignore[no-any-return]


def make_aiocache() -> Target:
    from aiocache import cached

    return cached(ttl=TTL)(upstream)  # type: ignore[no-any-return]


def make_cashews() -> Target:
    from cashews import Cache

    cache = Cache()
    cache.setup("mem://")
    return cache(ttl=TTL)(upstream)  # type: ignore[no-any-return]


class _MissError(Exception):
    """Raised by the dogpile creator: the value comes from the ``async`` upstream."""


def _miss() -> Any:
    raise _MissError


def make_dogpile() -> Target:
    from dogpile.cache import make_region
    from dogpile.cache.util import function_key_generator

    region = make_region().configure("dogpile.cache.memory", expiration_time=TTL)
    make_key = function_key_generator(None, upstream)  # type: ignore[arg-type]

    async def dogpile_wrapper(item_id: int) -> dict[str, int]:
        key = make_key(item_id)
        try:
            # dogpile's creators are synchronous: a miss escapes with _MissError and the
            # async upstream fills the region; a hit is one get_or_create.
            return region.get_or_create(key, _miss)  # type: ignore[no-any-return]
        except _MissError:
            pass
        value = await upstream(item_id)
        region.set(key, value)
        return value

    return dogpile_wrapper


async def per_hit(target: Target, hits: int) -> float:
    """Seconds per call of ``hits`` sequential calls (after a warm-up miss)."""
    await target(1)
    gc.disable()
    try:
        started = time.perf_counter()
        for _ in range(hits):
            await target(1)
        return (time.perf_counter() - started) / hits
    finally:
        gc.enable()


CONTENDERS: list[tuple[str, Callable[[], Target], int]] = [
    ("floor (dict lookup in async def)", make_floor, 200_000),
    ("cachetools TTLCache in async def", make_cachetools, 100_000),
    ("hitbox @cache.cached (memory)", make_hitbox, 100_000),
    ("hitbox @cache.cached(key=template)", lambda: make_hitbox("item:{item_id}"), 100_000),
    ("hitbox @cache.cached (memory, lru)", lambda: make_hitbox(eviction="lru"), 100_000),
    ("moka-py @cached (Rust)", make_moka, 100_000),
    ("cachebox @cached TTLCache (Rust)", make_cachebox, 100_000),
    ("theine @Memoize (custom key)", make_theine, 100_000),
    ("aiocache @cached (memory)", make_aiocache, 10_000),
    ("cashews @cache (mem://)", make_cashews, 10_000),
    ("dogpile.cache region.get_or_create in async def", make_dogpile, 10_000),
]

BASELINE = "cachetools TTLCache in async def"
HITBOX = "hitbox @cache.cached (memory)"
MOKA = "moka-py @cached (Rust)"
PEERS = [
    "cachetools TTLCache in async def",
    "moka-py @cached (Rust)",
    "cachebox @cached TTLCache (Rust)",
    "theine @Memoize (custom key)",
    "aiocache @cached (memory)",
    "cashews @cache (mem://)",
    "dogpile.cache region.get_or_create in async def",
]


async def measure(rounds: int, scale: float) -> dict[str, list[float]]:
    """Seconds per hit of every importable contender, one sample per round."""
    targets = []
    for name, factory, hits in CONTENDERS:
        try:
            targets.append((name, factory(), max(1000, int(hits * scale))))
        except ImportError as exc:
            print(f"skipping {name}: {exc} (install the 'bench' dependency group)")
    samples: dict[str, list[float]] = {name: [] for name, _, _ in targets}
    for _ in range(rounds):
        # Interleaved rounds, so a noisy moment on the machine hits everyone alike.
        for name, target, hits in targets:
            samples[name].append(await per_hit(target, hits))
    return samples


async def collect(quick: bool) -> dict[str, Any]:
    """The benchmark report's entry point (see ``benchmarks/report/protocol.py``)."""
    rounds, scale = (3, 0.3) if quick else (7, 1.0)
    samples = await measure(rounds, scale)
    rows: list[list[Any]] = [
        [name, statistics.median(values) * 1e6, min(values) * 1e6]
        for name, values in samples.items()
    ]
    table: dict[str, Any] = {
        "id": "hits",
        "title": "Sequential in-memory hits, time per call",
        "columns": ["contender", "median us", "best us"],
        "rows": rows,
        "metric": {"column": "median us", "better": "lower"},
        "baseline": BASELINE,
        "hitbox_row": HITBOX,
        "peers": [peer for peer in PEERS if peer in samples],
        "notes": [
            "Targets: at most moka-py's decorated hit (hitbox/moka-py <= 1.0) and at most "
            "2x the cachetools wrapper; aiocache and cashews at least 8x slower than hitbox."
        ],
    }
    return validate(  # type: ignore[return-value]
        {
            "title": "In-memory hit path: @cache.cached against peers",
            "description": (
                "One cached `async def` called sequentially with the same argument, so "
                "every measured call is a hit from process memory. The floor is a dict "
                "lookup in an `async def`; cachetools and dogpile.cache (synchronous "
                "libraries) are wrapped in an `async def` by hand; aiocache and cashews "
                "use their own decorators on their in-memory backends. Rounds are "
                "interleaved; the median of the rounds counts, garbage collection off "
                "while timing."
            ),
            "parameters": {"rounds": rounds, "scale": scale},
            "tables": [table],
        }
    )


async def main(rounds: int, scale: float) -> None:
    samples = await measure(rounds, scale)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    best = {name: min(values) for name, values in samples.items()}
    reference = medians.get(BASELINE)
    hitbox_median = medians[HITBOX]
    print(f"\nper hit over {rounds} rounds (sequential hits, one process run)\n")
    header = (
        f"{'contender':<48} {'median µs':>9} {'best µs':>8} {'vs cachetools':>13} {'vs hitbox':>9}"
    )
    print(header)
    for name, median in medians.items():
        vs_ref = f"{median / reference:>12.2f}x" if reference else f"{'-':>13}"
        print(
            f"{name:<48} {median * 1e6:>9.3f} {best[name] * 1e6:>8.3f} {vs_ref} "
            f"{median / hitbox_median:>8.2f}x"
        )
    if reference:
        ratio = hitbox_median / reference
        print(f"\nhitbox / cachetools wrapper (medians): {ratio:.2f}x (target <= 2x)")
    if MOKA in medians:
        print(f"hitbox / moka-py (medians): {hitbox_median / medians[MOKA]:.2f}x (target <= 1.0)")
    for peer in PEERS[4:]:
        if peer in medians:
            target = "" if peer.startswith("dogpile") else " (target >= 8x)"
            print(f"{peer}: {medians[peer] / hitbox_median:.1f}x slower than hitbox{target}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 rounds, fewer hits")
    args = parser.parse_args()
    rounds, scale = (3, 0.3) if args.quick else (args.rounds, 1.0)
    asyncio.run(main(rounds, scale))
