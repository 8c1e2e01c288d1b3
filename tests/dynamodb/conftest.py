"""Fixtures: moto and dynalite servers for the session, fake credentials, backends.

The servers (see :mod:`tests.dynamodb.servers`) are started once per session on free
loopback ports and stopped at the end; each gets the table ``hitbox-cache``. Credentials
are fake and set in the environment for the whole session, with the instance-metadata
lookup disabled so a missing credential never turns into a slow network probe.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hitbox_dynamodb import DynamoDBBackend, DynamoDBConfig, create_table
from hitbox_dynamodb._backend import open_client

from tests.dynamodb.servers import (
    FAKE_AWS_ENV,
    EmulatorUnavailableError,
    dynalite_server,
    moto_server,
)
from tests.support import service_unavailable

REGION = "us-east-1"
TABLE = "hitbox-cache"

# The machine is shared and the emulators are slow to warm up: tests allow long reads so
# they never fail on a timeout they do not test.
PATIENT: dict[str, Any] = {"read_timeout": 30.0, "connect_timeout": 10.0}


class FakeClock:
    """A clock the tests move by hand (unix seconds), starting at the real time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        self.now += seconds


@pytest.fixture(scope="session", autouse=True)
def fake_aws_credentials() -> Iterator[None]:
    """Fake credentials and region for every test in this folder."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS_ENV.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        yield


def _setup_table(endpoint: str, table: str = TABLE) -> None:
    async def run() -> None:
        config = DynamoDBConfig(table=table, endpoint_url=endpoint, region=REGION, **PATIENT)
        async with open_client(config) as client:
            await create_table(client, table, poll_interval=0.02)

    # In a thread of its own: the fixture may be set up from inside a running event loop
    # (request.getfixturevalue in an async test), where asyncio.run is not allowed.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


@pytest.fixture(scope="session")
def moto_endpoint(fake_aws_credentials: None) -> Iterator[str]:
    """URL of a moto server with the table ``hitbox-cache`` (TTL enabled)."""
    try:
        with moto_server() as endpoint:
            _setup_table(endpoint)
            yield endpoint
    except EmulatorUnavailableError as exc:
        service_unavailable(str(exc))


@pytest.fixture(scope="session")
def dynalite_endpoint(fake_aws_credentials: None) -> Iterator[str]:
    """URL of an in-memory dynalite server (no TTL API) with the table ``hitbox-cache``."""
    try:
        with dynalite_server() as endpoint:
            _setup_table(endpoint)
            yield endpoint
    except EmulatorUnavailableError as exc:
        service_unavailable(str(exc))


@pytest.fixture
def clock() -> FakeClock:
    """A fresh fake clock."""
    return FakeClock()


@pytest.fixture
async def make_backend(moto_endpoint: str, clock: FakeClock) -> AsyncIterator[Any]:
    """Factory of moto-backed backends sharing ``clock``; all are closed after the test."""
    made: list[DynamoDBBackend] = []

    def make(**settings: Any) -> DynamoDBBackend:
        settings.setdefault("table", TABLE)
        settings.setdefault("endpoint_url", moto_endpoint)
        settings.setdefault("region", REGION)
        for name, value in PATIENT.items():
            settings.setdefault(name, value)
        backend = DynamoDBBackend(clock=clock, **settings)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        await backend.aclose()


@pytest.fixture
async def backend(make_backend: Any) -> DynamoDBBackend:
    """A backend on the moto table with a fake clock."""
    made: DynamoDBBackend = make_backend()
    return made


@pytest.fixture
async def raw_client(moto_endpoint: str) -> AsyncIterator[Any]:
    """A plain aiobotocore client on the moto server, to look at items directly."""
    config = DynamoDBConfig(table=TABLE, endpoint_url=moto_endpoint, region=REGION, **PATIENT)
    async with open_client(config) as client:
        yield client


def unique_key(prefix: str = "k") -> str:
    """A key no other test uses (the servers live for the whole session)."""
    return f"{prefix}:{uuid.uuid4().hex}"
