"""The backend conformance kit against real servers: standalone (with and without
auto-batching), a 3-master cluster, and Sentinel."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hitbox.testing import BackendConformance
from hitbox_redis import RedisBackend

from tests.redis_servers import RedisClusterServers, RedisSentinel, RedisServer

pytestmark = pytest.mark.services

# Generous timeouts: the shared 2-core test machine can stall for tens of milliseconds,
# and a conformance test must not fail open by accident.
_RELAXED = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0, "operation_timeout": 2.0}


class TestStandalone(BackendConformance):
    @pytest.fixture
    async def backend(self, redis_server: RedisServer) -> AsyncIterator[RedisBackend]:
        backend = RedisBackend.from_url(redis_server.url, **_RELAXED)
        yield backend
        await backend.aclose()


class TestStandaloneWithoutAutoBatch(BackendConformance):
    @pytest.fixture
    async def backend(self, redis_server: RedisServer) -> AsyncIterator[RedisBackend]:
        backend = RedisBackend.from_url(redis_server.url, auto_batch=False, **_RELAXED)
        yield backend
        await backend.aclose()


class TestStandaloneResp2(BackendConformance):
    @pytest.fixture
    async def backend(self, redis_server: RedisServer) -> AsyncIterator[RedisBackend]:
        backend = RedisBackend.from_url(redis_server.url + "?protocol=2", **_RELAXED)
        yield backend
        await backend.aclose()


class TestCluster(BackendConformance):
    @pytest.fixture
    async def backend(self, redis_cluster: RedisClusterServers) -> AsyncIterator[RedisBackend]:
        backend = RedisBackend.from_url(redis_cluster.url, **_RELAXED)
        yield backend
        await backend.aclose()


class TestSentinel(BackendConformance):
    @pytest.fixture
    async def backend(self, redis_sentinel: RedisSentinel) -> AsyncIterator[RedisBackend]:
        backend = RedisBackend.from_url(redis_sentinel.url, **_RELAXED)
        yield backend
        await backend.aclose()
