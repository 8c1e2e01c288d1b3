"""The backend conformance kit against real servers: standalone (with and without
auto-batching), a 3-master cluster, and Sentinel."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hitbox.testing import BackendConformance
from hitbox_redis import RedisBackend

from tests.redis.conftest import RELAXED
from tests.redis_servers import RedisClusterServers, RedisSentinel, RedisServer

pytestmark = pytest.mark.services


class TestStandalone(BackendConformance):
    @pytest.fixture
    async def backend(self, redis_server: RedisServer) -> AsyncIterator[RedisBackend]:
        backend = RedisBackend.from_url(redis_server.url, **RELAXED)
        yield backend
        await backend.aclose()


class TestStandaloneWithoutAutoBatch(BackendConformance):
    @pytest.fixture
    async def backend(self, redis_server: RedisServer) -> AsyncIterator[RedisBackend]:
        backend = RedisBackend.from_url(redis_server.url, auto_batch=False, **RELAXED)
        yield backend
        await backend.aclose()


class TestStandaloneResp2(BackendConformance):
    @pytest.fixture
    async def backend(self, redis_server: RedisServer) -> AsyncIterator[RedisBackend]:
        backend = RedisBackend.from_url(redis_server.url + "?protocol=2", **RELAXED)
        yield backend
        await backend.aclose()


class TestCluster(BackendConformance):
    @pytest.fixture
    async def backend(self, redis_cluster: RedisClusterServers) -> AsyncIterator[RedisBackend]:
        backend = RedisBackend.from_url(redis_cluster.url, **RELAXED)
        yield backend
        await backend.aclose()


class TestSentinel(BackendConformance):
    @pytest.fixture
    async def backend(self, redis_sentinel: RedisSentinel) -> AsyncIterator[RedisBackend]:
        backend = RedisBackend.from_url(redis_sentinel.url, **RELAXED)
        yield backend
        await backend.aclose()
