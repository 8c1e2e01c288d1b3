"""``hitbox demo``: every state of the machine, live, on the embedded default backend.

The demo caches a deliberately slow "product catalogue" upstream on the ``memory``
backend (resolved by name through the plugin registry, like any configuration) and walks
through the states: a miss, a hit, a stampede of concurrent callers collapsed into one
upstream call, a stale entry served while it refreshes in the background, and a backend
that stops answering, which the cache routes around (timeouts, then the circuit breaker)
until it recovers. Each step prints its state paths, its wall time and how many upstream
calls it cost; a table sums it up. It runs in about five seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, final

import click
from rich.console import Console
from rich.table import Table

from hitbox.backend._contract import Backend
from hitbox.backend._value import CachedValue
from hitbox.cache import Cache
from hitbox.engine._events import CacheEvent
from hitbox.plugins import PluginManager, hookimpl
from hitbox.policy import Policy

__all__ = ["demo"]


@final
class _Outage(Backend):
    """Wraps a backend and can make it stop answering (every call hangs), like a dead
    network path; it reports itself as remote so the cache guards it with timeouts."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.down = False
        self.is_local = False
        self.stores_objects = inner.stores_objects
        self.label = inner.label or "memory"

    async def _wait_if_down(self) -> None:
        if self.down:
            await asyncio.Event().wait()  # never set: the cache's timeout cancels this

    async def get(self, key: str) -> CachedValue | None:
        await self._wait_if_down()
        return await self.inner.get(key)

    async def set(self, key: str, value: CachedValue, ttl: float) -> None:
        await self._wait_if_down()
        await self.inner.set(key, value, ttl)

    async def delete(self, key: str) -> None:
        await self._wait_if_down()
        await self.inner.delete(key)

    async def aclose(self) -> None:
        await self.inner.aclose()


@final
class _PathRecorder:
    """An event plugin: collects the state paths of the runs of the current step."""

    def __init__(self) -> None:
        self.events: list[CacheEvent] = []

    @hookimpl
    def hitbox_cache_event(self, event: CacheEvent) -> None:
        self.events.append(event)

    def take(self) -> list[CacheEvent]:
        events, self.events = self.events, []
        return events


@dataclass
class _Step:
    name: str
    seconds: float
    upstream_calls: int
    paths: Counter[str]
    result: str


def _describe_paths(paths: Counter[str]) -> str:
    return "\n".join(f"{path} (x{count})" if count > 1 else path for path, count in paths.items())


class _Demo:
    """The scenario, with real time scaled by ``scale`` (1.0 in the CLI)."""

    def __init__(self, console: Console, scale: float, stampede: int) -> None:
        self.console = console
        self.scale = scale
        self.stampede = stampede
        self.upstream_seconds = 0.25 * scale
        self.upstream_calls = 0
        self.versions: Counter[int] = Counter()
        self.steps: list[_Step] = []
        self.recorder = _PathRecorder()

    async def product(self, product_id: int) -> dict[str, Any]:
        """The slow upstream: a product lookup that takes a quarter of a second."""
        self.upstream_calls += 1
        self.versions[product_id] += 1
        version = self.versions[product_id]
        await asyncio.sleep(self.upstream_seconds)
        return {"id": product_id, "name": f"product {product_id}", "version": version}

    async def step(
        self,
        name: str,
        action: Callable[[], Awaitable[str]],
        wait: float = 0.0,
        why: str = "",
    ) -> None:
        """Run ``action`` (timed) after waiting ``wait`` seconds (not timed) for ``why``."""
        self.recorder.take()
        before = self.upstream_calls  # what happens while waiting belongs to this step
        with self.console.status(f"[bold]{name}[/bold] …"):
            if wait:
                self.console.print(f"[dim]  … {why} ({wait:.1f} s)[/dim]")
                await asyncio.sleep(wait)
            started = time.perf_counter()
            result = await action()
            seconds = time.perf_counter() - started
        events = self.recorder.take()
        paths = Counter(e.describe() for e in events if e.operation != "refresh")
        refreshes = [e for e in events if e.operation == "refresh"]
        if refreshes:
            paths[f"background refresh: {refreshes[0].describe()}"] += len(refreshes)
        step = _Step(name, seconds, self.upstream_calls - before, paths, result)
        self.steps.append(step)
        self.console.print(
            f"[green]✓[/green] [bold]{name}[/bold]: {result} "
            f"[dim]({_ms(seconds)}, {step.upstream_calls} upstream call(s))[/dim]"
        )
        for path, count in paths.items():
            times = f" (x{count})" if count > 1 else ""
            self.console.print(f"    [cyan]{path}[/cyan]{times}")

    async def run(self, manager: PluginManager) -> None:
        from hitbox.config import resolve_backend

        scale = self.scale
        backend = _Outage(resolve_backend("memory", manager))
        # A fast-path cache for the hit timing is built before the path recorder is
        # registered: with no event listener, hits skip the state machine entirely.
        timing_cache = Cache(resolve_backend("memory", manager), plugins=manager)
        manager.register(self.recorder, "hitbox-demo-recorder")
        policy = Policy(
            ttl=1.0 * scale,
            max_stale=60,
            backend_timeout=0.1 * scale,
            failure_threshold=3,
            cooldown=1.0 * scale,
        )
        cache = Cache(backend, policy=policy, plugins=manager)
        get_product = cache.cached(key="product:{product_id}")(self.product)

        async def miss() -> str:
            return f"product 1 fetched (version {(await get_product(1))['version']})"

        async def hit() -> str:
            value = await get_product(1)
            return f"product 1 from the cache (version {value['version']})"

        async def stampede() -> str:
            results = await asyncio.gather(*(get_product(2) for _ in range(self.stampede)))
            return f"{len(results)} concurrent callers of cold product 2 answered"

        async def stale() -> str:
            value = await get_product(1)
            return f"product 1 served stale at once (version {value['version']})"

        async def refreshed() -> str:
            value = await get_product(1)
            return f"product 1 was refreshed in the background (version {value['version']})"

        async def outage() -> str:
            timings = []
            for product_id in range(3, 8):  # several keys: one key alone never opens it
                started = time.perf_counter()
                await get_product(product_id)
                timings.append(_ms(time.perf_counter() - started))
            return (
                f"the backend hangs; 5 calls answered by the upstream ({', '.join(timings)}); "
                f"breaker {cache.breaker_state} after 3 timeouts"
            )

        async def recovery() -> str:
            await get_product(3)  # the breaker's probe: the backend answers, the value is stored
            value = await get_product(3)
            return f"breaker {cache.breaker_state}; product 3 cached (version {value['version']})"

        async def hit_path() -> str:
            timed = timing_cache.cached(key="product:{product_id}")(self.product)
            await timed(1)
            hits = 100_000
            started = time.perf_counter()
            for _ in range(hits):
                await timed(1)
            per_hit = (time.perf_counter() - started) / hits
            return f"{hits:,} sequential hits, {per_hit * 1e6:.2f} µs per hit (no event listener)"

        async with cache, timing_cache:
            await self.step("miss", miss)
            await self.step("hit", hit)
            await self.step(f"stampede of {self.stampede}", stampede)
            await self.step("stale while revalidate", stale, 1.05 * scale, "past the 1 s ttl")
            await self.step(
                "after the refresh", refreshed, self.upstream_seconds * 1.5, "refresh running"
            )
            backend.down = True
            await self.step("backend down: fail open", outage)
            backend.down = False
            await self.step("backend back", recovery, 1.05 * scale, "breaker cooldown")
            await self.step("hit path", hit_path)
            stats = cache.stats()
        self._summary(stats)

    def _summary(self, stats: Any) -> None:
        table = Table(title="hitbox demo: one state machine, every state")
        table.add_column("step", style="bold")
        table.add_column("state paths", style="cyan")
        table.add_column("time", justify="right")
        table.add_column("upstream calls", justify="right")
        for step in self.steps:
            table.add_row(
                step.name, _describe_paths(step.paths), _ms(step.seconds), str(step.upstream_calls)
            )
        self.console.print()
        self.console.print(table)
        self.console.print(
            f"stats: hits={stats.hits} misses={stats.misses} stale={stats.stale} "
            f"locked={stats.locked} errors={stats.errors} skipped={stats.skipped} "
            f"upstream_calls={stats.upstream_calls}"
        )


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} µs"


@click.command("demo")
@click.option(
    "--stampede", default=1000, show_default=True, help="Concurrent callers of one cold key."
)
@click.option("--time-scale", default=1.0, hidden=True, help="Multiply every delay (tests).")
def demo(stampede: int, time_scale: float) -> None:
    """Show every cache state live on the embedded memory backend (about 5 s)."""
    if stampede < 1:
        raise click.BadParameter(f"must be at least 1 (got {stampede})", param_hint="--stampede")
    console = Console(highlight=False)
    console.print(
        "[bold]hitbox demo[/bold]: a slow upstream (250 ms per call) cached on the "
        "[bold]memory[/bold] backend\n"
    )
    started = time.perf_counter()
    logger = logging.getLogger("hitbox")
    handler = _ConsoleLog(console)
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        # Its own plugin manager (same entry points), so registering the demo's event
        # recorder leaves the process-wide one untouched.
        asyncio.run(_Demo(console, time_scale, stampede).run(PluginManager()))
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    console.print(f"[dim]finished in {time.perf_counter() - started:.1f} s[/dim]")


class _ConsoleLog(logging.Handler):
    """Shows the cache's (rate-limited) warnings inline, where they happen."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.WARNING)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        self.console.print(f"    [yellow]warning: {record.getMessage()}[/yellow]", markup=True)
