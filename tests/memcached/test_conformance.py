"""The conformance kit against real memcached: one server, and a pool of three."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hitbox.testing import BackendConformance
from hitbox_memcached import MemcachedBackend

from tests.memcached.conftest import MemcachedServer

pytestmark = pytest.mark.services


class TestMemcachedConformance(BackendConformance):
    """Every backend behaviour; memcached expires in whole seconds, so time really passes."""

    ttl_resolution = 1.0

    @pytest.fixture(params=[1, 3], ids=["one-server", "three-servers-autobatching"])
    async def backend(
        self, request: pytest.FixtureRequest, memcached_servers: list[MemcachedServer]
    ) -> AsyncIterator[MemcachedBackend]:
        servers = [server.address for server in memcached_servers[: request.param]]
        backend = MemcachedBackend(
            servers, key_prefix="conformance:", autobatching=request.param == 3
        )
        yield backend
        await backend.aclose()
