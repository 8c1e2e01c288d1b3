"""The conformance kit against two independent DynamoDB implementations.

moto has the TTL API; dynalite does not, which proves the backend works on a server
without ``UpdateTimeToLive``: expiry is enforced by the reads alone. Both run with a fake
clock, so expiry and lease tests take no wall-clock time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar

import pytest
from hitbox.testing import BackendConformance
from hitbox_dynamodb import DYNAMODB_MAX_ITEM_SIZE, DynamoDBBackend

from tests.dynamodb.conftest import PATIENT, REGION, TABLE, FakeClock

pytestmark = pytest.mark.services  # moto / dynalite servers started by the fixtures


class _DynamoDBConformance(BackendConformance):
    max_value_size: ClassVar[int] = DYNAMODB_MAX_ITEM_SIZE
    clock: FakeClock

    async def advance_time(self, seconds: float) -> None:
        self.clock.advance(seconds)

    async def _make(self, endpoint: str) -> DynamoDBBackend:
        self.clock = FakeClock()
        return DynamoDBBackend(
            table=TABLE,
            endpoint_url=endpoint,
            region=REGION,
            clock=self.clock,
            **PATIENT,
        )


class TestMotoConformance(_DynamoDBConformance):
    """moto server, default settings (zlib above 8 KiB; uncompressed sizes: test_backend)."""

    @pytest.fixture
    async def backend(self, moto_endpoint: str) -> AsyncIterator[DynamoDBBackend]:
        backend = await self._make(moto_endpoint)
        yield backend
        await backend.aclose()


class TestDynaliteConformance(_DynamoDBConformance):
    """dynalite (Node.js, LevelDB in memory), which has no TTL API."""

    @pytest.fixture
    async def backend(self, dynalite_endpoint: str) -> AsyncIterator[DynamoDBBackend]:
        backend = await self._make(dynalite_endpoint)
        yield backend
        await backend.aclose()
