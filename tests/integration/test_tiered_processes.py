"""Two processes, each a ``hitbox.Cache`` over memory + Redis tiers, one real Redis.

Instance A (this test process) computes a tagged value; instance B (a child process)
reads it, so it sits in B's L1 together with B's remembered "no tag marker" entry. Then
A invalidates the tag and B keeps reading until a read misses (B's upstream is called).
Every round must be seen by B; the propagation delay -- from A calling
``invalidate_tags`` to the first of B's reads that misses -- is measured with the
system-wide monotonic clock and reported (p50/p99). ``benchmarks/bench_tiered.py``
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
"""Seconds B waits for an invalidation before reporting it lost (a failure, not a timing)."""


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
    """Instance B: answers ``warm i`` with the value it reads, ``watch i`` with the time
    of its first read that misses after the tag was invalidated."""
    cache, item = build_cache(url, channel, "b")
    await item(-1)  # start the subscription
    print("ready", flush=True)
    while line := await asyncio.to_thread(sys.stdin.readline):
        command, _, argument = line.strip().partition(" ")
        index = int(argument or 0)
        if command == "warm":
            value = await item(index)
            print(f"warmed {value}", flush=True)
        elif command == "watch":
            calls = item.calls
            before = calls["upstream"]
            print("watching", flush=True)
            deadline = time.monotonic() + DETECT_LIMIT
            while True:
                started = time.monotonic()
                await item(index)
                if calls["upstream"] != before:
                    print(f"missed {started!r}", flush=True)
                    break
                if started > deadline:
                    print("lost", flush=True)
                    break
                await asyncio.sleep(0.0001)  # let the subscription run; leave the CPU to others
    await cache.aclose()


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
    """Seconds from A's ``invalidate_tags`` to B's first missing read, per round."""
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
            await peer.send(f"warm {index}")
            assert await peer.read() == f"warmed {expected}"  # A's value, through Redis
            await peer.send(f"watch {index}")
            assert await peer.read() == "watching"
            started = time.monotonic()
            assert await cache.invalidate_tags(f"tag:{index}")
            answer = await peer.read()
            assert answer.startswith("missed "), f"round {index}: B never missed ({answer})"
            delays.append(float(answer.split()[1]) - started)
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
