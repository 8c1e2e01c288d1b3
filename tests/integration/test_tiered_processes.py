"""Two processes, each a ``hitbox.Cache`` over memory + Redis tiers, one real Redis.

Instance A (this test process) computes a tagged value; instance B (a child process)
reads it, so it sits in B's L1 together with B's remembered "no tag marker" entry. Then
A invalidates the tag: B must apply the invalidation, and B's next read must miss (B's
upstream is called). The propagation delay -- from A calling ``invalidate_tags`` to B
having dropped the marker from its L1 -- is measured with the system-wide monotonic
clock and reported (p50/p99). ``benchmarks/bench_tiered.py``
runs the same harness.

The child is this module run as a script: ``python -m tests.integration.test_tiered_processes
peer <redis url> <channel>``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import hitbox
import pytest

from tests.redis_servers import RedisServer

ROOT = Path(__file__).resolve().parents[2]
DETECT_LIMIT = 10.0
"""Seconds B waits for a message before reporting it lost (a failure, not a timing)."""


def build_cache(url: str, channel: str, name: str) -> tuple[hitbox.Cache, Any]:
    """A cache over memory + Redis and its cached function ``item(i)`` tagged ``tag:{i}``
    (whose upstream answers ``"<name>-<i>-<call count>"``)."""
    config = {
        "backend": {
            "name": "tiered",
            "tiers": [
                {"name": "memory", "max_entries": 100_000},
                {
                    "url": url,
                    "invalidation_channel": channel,
                    "socket_timeout": 1.0,
                    "socket_connect_timeout": 1.0,
                },
            ],
        },
        "policy": {"ttl": 600, "backend_timeout": 1.0},
        "namespace": "propagation",
    }
    cache = hitbox.Cache.from_config(config)
    calls = {"upstream": 0}

    @cache.cached(key="item:{index}", tags=["tag:{index}"])
    async def item(index: int) -> str:
        calls["upstream"] += 1
        return f"{name}-{index}-{calls['upstream']}"

    item.calls = calls  # type: ignore[attr-defined]
    return cache, item


async def peer(url: str, channel: str) -> None:
    """Instance B: ``warm i n`` waits for A's first ``n`` messages, then reads item ``i``
    and answers its value; ``watch i`` waits for the next invalidation, answers the time
    it was applied, and checks that the next read of item ``i`` misses."""
    cache, item = build_cache(url, channel, "b")
    backend = cache.backend
    await item(-1)  # start the subscription
    print("ready", flush=True)
    while line := await asyncio.to_thread(sys.stdin.readline):
        command, index, *rest = line.split()
        if command == "warm":
            await received_at_least(backend, int(rest[0]))
            print(f"warmed {await item(int(index))}", flush=True)
        elif command == "watch":
            seen = backend.stats().invalidations_received
            print("watching", flush=True)
            applied = await received_at_least(backend, seen + 1)
            before = item.calls["upstream"]
            await item(int(index))
            missed = item.calls["upstream"] == before + 1
            print(f"missed {applied!r}" if missed else "stale", flush=True)
    await cache.aclose()


async def received_at_least(backend: Any, count: int) -> float:
    """Wait until ``backend`` applied ``count`` invalidations; the time it did, or -1."""
    deadline = time.monotonic() + DETECT_LIMIT
    while backend.stats().invalidations_received < count:
        if time.monotonic() > deadline:
            return -1.0
        await asyncio.sleep(0.0001)  # let the subscription run; leave the CPU to others
    return time.monotonic()


class Peer:
    """The child process and its line protocol."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, url: str, channel: str) -> Peer:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.integration.test_tiered_processes",
            "peer", url, channel,
            cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        peer = cls(process)
        assert await peer.read() == "ready"
        return peer

    async def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{line}\n".encode())
        await self.process.stdin.drain()

    async def read(self) -> str:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), DETECT_LIMIT + 5)
        if not line:
            raise AssertionError(f"peer exited with {await self.process.wait()}")
        return line.decode().strip()

    async def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def measure_propagation(url: str, rounds: int) -> list[float]:
    """Seconds from A's ``invalidate_tags`` to B applying it, per round (B's next read is
    checked to miss)."""
    channel = f"hitbox:propagation:{uuid.uuid4().hex}"
    cache, item = build_cache(url, channel, "a")
    peer = await Peer.start(url, channel)
    delays: list[float] = []
    try:
        await item(-2)
        redis = cache.backend.bus  # type: ignore[attr-defined]
        for _ in range(1000):  # both instances subscribed before the first round
            if sum(n for _, n in await redis.client.pubsub_numsub(channel)) >= 2:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the instances did not subscribe")
        for index in range(rounds):
            expected = await item(index)
            await cache.backend.flush_invalidations()  # type: ignore[attr-defined]
            published = cache.backend.stats().invalidations_published  # type: ignore[attr-defined]
            await peer.send(f"warm {index} {published}")
            assert await peer.read() == f"warmed {expected}"  # A's value, through Redis
            await peer.send(f"watch {index}")
            assert await peer.read() == "watching"
            started = time.monotonic()
            assert await cache.invalidate_tags(f"tag:{index}")
            answer = await peer.read()
            assert answer != "stale", f"round {index}: B's next read did not miss"
            applied = float(answer.split()[1])
            assert applied > 0, f"round {index}: the invalidation never reached B"
            delays.append(applied - started)
    finally:
        await peer.stop()
        await cache.aclose()
    return delays


def summary(delays: list[float]) -> str:
    """``p50/p99/max`` in milliseconds."""
    ordered = sorted(delays)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (
        f"{len(delays)} invalidations: p50 {statistics.median(ordered) * 1000:.2f} ms, "
        f"p99 {p99 * 1000:.2f} ms, max {ordered[-1] * 1000:.2f} ms"
    )


@pytest.mark.services
@pytest.mark.slow
async def test_tag_invalidation_propagates_between_processes(redis_server: RedisServer) -> None:
    delays = await measure_propagation(redis_server.url, 1000)
    assert len(delays) == 1000
    assert all(delay > 0 for delay in delays)
    print(f"\ntag invalidation A -> B across processes: {summary(delays)}")


if __name__ == "__main__":
    _, _command, redis_url, channel_name = sys.argv
    asyncio.run(peer(redis_url, channel_name))
