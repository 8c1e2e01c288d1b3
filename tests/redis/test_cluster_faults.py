"""A Redis Cluster losing a master: calls stay bounded, the backend recovers by itself.

Two cases, each on a private cluster: a master without replicas is killed and restarted
(its slots come back with it), and a master with a replica is killed for good (the
replica is promoted; the client follows ``MOVED`` and refreshes its slot map).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hitbox.testing import make_value
from hitbox_redis import RedisBackend
from hitbox_redis._keys import key_slot
from redis.exceptions import RedisError

from tests.redis_servers import RedisClusterServers, redis_binaries
from tests.support import service_unavailable

pytestmark = [pytest.mark.services, pytest.mark.slow]

BOUND = 1.0
"""A failing call must end within this (operation_timeout is 0.25 s; the rest is noise)."""


def start_cluster(directory: Path, replicas: int) -> RedisClusterServers:
    if redis_binaries() is None:
        service_unavailable("redis-server / redis-cli are not installed")
    try:
        return RedisClusterServers.start(directory, replicas=replicas, node_timeout_ms=1000)
    except (OSError, TimeoutError) as exc:
        service_unavailable(f"cannot start a redis cluster: {exc}")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RedisClusterServers]:
    servers = start_cluster(tmp_path, replicas=0)
    yield servers
    servers.stop()


@pytest.fixture
def replicated_cluster(tmp_path: Path) -> Iterator[RedisClusterServers]:
    servers = start_cluster(tmp_path, replicas=1)
    yield servers
    servers.stop()


async def bounded_attempt(backend: RedisBackend, key: str, payload: bytes) -> bool:
    """One write-then-read of ``key``; whether it worked. Fails the test if it hung."""
    start = time.monotonic()
    try:
        await backend.set(key, make_value(payload), 60)
        stored = await backend.get(key)
    except (RedisError, OSError):
        ok = False
    else:
        ok = stored is not None and stored.data == payload
    assert time.monotonic() - start < 2 * BOUND, "a backend call outlived its timeouts"
    return ok


async def recover(backend: RedisBackend, key: str, within: float) -> float:
    start = time.monotonic()
    while not await bounded_attempt(backend, key, b"recovered"):
        assert time.monotonic() - start < within, f"no recovery within {within}s"
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def test_master_killed_and_restarted(cluster: RedisClusterServers) -> None:
    backend = RedisBackend.from_url(cluster.url)
    key = "victim:1"
    try:
        assert await bounded_attempt(backend, key, b"before")
        victim = cluster.master_of_slot(key_slot(key))
        victim.kill()
        failures = [not await bounded_attempt(backend, key, b"during") for _ in range(3)]
        assert all(failures)  # its slots have no other owner
        victim.launch()  # same port, same nodes.conf: it rejoins with its slots
        cluster.wait_until_ok()
        await recover(backend, key, within=10.0)
    finally:
        await backend.aclose()


async def test_master_failover_to_replica(replicated_cluster: RedisClusterServers) -> None:
    backend = RedisBackend.from_url(replicated_cluster.url)
    key = "failover:1"
    try:
        assert await bounded_attempt(backend, key, b"before")
        victim = replicated_cluster.master_of_slot(key_slot(key))
        victim.kill()
        await recover(backend, key, within=15.0)  # node timeout 1 s + election
        assert replicated_cluster.master_of_slot(key_slot(key)) is not victim
    finally:
        await backend.aclose()
