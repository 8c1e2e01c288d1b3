"""A private ``redis-server`` for the sync tests (started on a free loopback port)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.redis_servers import RedisServer, redis_binaries
from tests.support import service_unavailable


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A standalone server for one test (it may kill it)."""
    if redis_binaries() is None:
        service_unavailable("redis-server / redis-cli are not installed")
    try:
        server = RedisServer.start(tmp_path_factory.mktemp("redis-sync"))
    except (OSError, TimeoutError) as exc:
        service_unavailable(f"cannot start redis-server: {exc}")
    yield server
    server.stop()
