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


class _DynamoDBConformance(BackendConformance):
    max_value_size: ClassVar[int] = DYNAMODB_MAX_ITEM_SIZE
    compression: ClassVar[str] = "zlib"
    clock: FakeClock

    async def advance_time(self, seconds: float) -> None:
        self.clock.advance(seconds)

    async def _make(self, endpoint: str) -> DynamoDBBackend:
        self.clock = FakeClock()
        return DynamoDBBackend(
            table=TABLE,
            endpoint_url=endpoint,
            region=REGION,
            compression=self.compression,
            clock=self.clock,
            **PATIENT,
        )


class TestMotoConformance(_DynamoDBConformance):
    """moto server, default settings (zlib above 8 KiB)."""

    @pytest.fixture
    async def backend(self, moto_endpoint: str) -> AsyncIterator[DynamoDBBackend]:
        backend = await self._make(moto_endpoint)
        yield backend
        await backend.aclose()


class TestMotoUncompressedConformance(_DynamoDBConformance):
    """moto server without compression: large payloads go in as they are.

    moto caps items at 405,000 bytes, a little below DynamoDB's 409,600; the backend's own
    estimate follows DynamoDB, and moto's rejection of anything in between takes the
    oversized path (see test_backend).
    """

    compression = "none"
    max_value_size = 405_000

    @pytest.fixture
    async def backend(self, moto_endpoint: str) -> AsyncIterator[DynamoDBBackend]:
        backend = await self._make(moto_endpoint)
        yield backend
        await backend.aclose()


@pytest.mark.services
class TestDynaliteConformance(_DynamoDBConformance):
    """dynalite (Node.js, LevelDB in memory), which has no TTL API."""

    @pytest.fixture
    async def backend(self, dynalite_endpoint: str) -> AsyncIterator[DynamoDBBackend]:
        backend = await self._make(dynalite_endpoint)
        yield backend
        await backend.aclose()


@pytest.mark.services
class TestDynaliteUncompressedConformance(_DynamoDBConformance):
    """dynalite without compression: a payload just under 400 KB is stored as it is."""

    compression = "none"

    @pytest.fixture
    async def backend(self, dynalite_endpoint: str) -> AsyncIterator[DynamoDBBackend]:
        backend = await self._make(dynalite_endpoint)
        yield backend
        await backend.aclose()
