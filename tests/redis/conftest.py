"""Session fixtures: a standalone ``redis-server`` and a 3-master Redis Cluster.

Both run on free loopback ports in temporary directories and are stopped by PID at the
end of the session. Tests that kill, freeze or restart a server start a private one with
``redis_server_factory`` so they never disturb the shared servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hitbox_redis import RedisBackend

from tests.redis_servers import RedisClusterServers, RedisSentinel, RedisServer, redis_binaries
from tests.support import service_unavailable


def _require_redis() -> None:
    if redis_binaries() is None:
        service_unavailable("redis-server / redis-cli are not installed")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A standalone server shared by the whole session (do not kill it)."""
    _require_redis()
    try:
        server = RedisServer.start(tmp_path_factory.mktemp("redis"))
    except (OSError, TimeoutError) as exc:
        service_unavailable(f"cannot start redis-server: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    """A 3-master cluster (no replicas) shared by the whole session (do not kill nodes)."""
    _require_redis()
    try:
        cluster = RedisClusterServers.start(tmp_path_factory.mktemp("redis-cluster"))
    except (OSError, TimeoutError) as exc:
        service_unavailable(f"cannot start a redis cluster: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_server_factory(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start private servers (for fault tests); all are stopped when the test ends."""
    _require_redis()
    started: list[RedisServer] = []

    def start(*extra_args: str) -> RedisServer:
        server = RedisServer.start(tmp_path / f"redis{len(started)}", *extra_args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def redis_sentinel(tmp_path: Path) -> Iterator[RedisSentinel]:
    """A master watched by one Sentinel, private to the test."""
    _require_redis()
    try:
        sentinel = RedisSentinel.start(tmp_path)
    except (OSError, TimeoutError) as exc:
        service_unavailable(f"cannot start redis-sentinel: {exc}")
    yield sentinel
    sentinel.stop()


RELAXED = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0, "operation_timeout": 2.0}
"""Timeouts for functional tests: the shared 2-core test machine can stall for tens of
milliseconds, and a functional test must not fail open by accident (fault tests use the
real defaults)."""


@pytest.fixture
async def make_backend() -> AsyncIterator[Callable[..., RedisBackend]]:
    """Build backends from a URL (relaxed timeouts unless overridden); closed at the end."""
    backends: list[RedisBackend] = []

    def make(url: str, **overrides: Any) -> RedisBackend:
        backend = RedisBackend.from_url(url, **{**RELAXED, **overrides})
        backends.append(backend)
        return backend

    yield make
    for backend in backends:
        await backend.aclose()
