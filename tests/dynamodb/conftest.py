"""DynamoDB test servers: moto (ThreadedMotoServer) and dynalite, on free loopback ports.

Both are started once per session and stopped at the end. Credentials are fake and set in
the environment for the whole session, with the instance-metadata lookup disabled so a
missing credential never turns into a slow network probe.

dynalite comes from npm into ``tests/dynamodb/.node`` (gitignored)::

    npm install --no-save --no-audit --no-fund --prefix tests/dynamodb/.node dynalite@4

``HITBOX_DYNALITE`` may name another dynalite executable.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hitbox_dynamodb import DynamoDBBackend, DynamoDBConfig, create_table
from hitbox_dynamodb._backend import open_client

from tests.support import free_port, service_unavailable, wait_for_port

DYNALITE_DIR = Path(__file__).parent / ".node"
DYNALITE_INSTALL = (
    "npm install --no-save --no-audit --no-fund --prefix tests/dynamodb/.node dynalite@4"
)
REGION = "us-east-1"
TABLE = "hitbox-cache"

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


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

    asyncio.run(run())


@pytest.fixture(scope="session")
def moto_endpoint(fake_aws_credentials: None) -> Iterator[str]:
    """URL of a moto server with the table ``hitbox-cache`` (TTL enabled)."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # pragma: no cover - moto[server] is in the dev group
        service_unavailable(f"moto[server] is not installed: {exc}")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        wait_for_port(port)
        endpoint = f"http://127.0.0.1:{port}"
        _setup_table(endpoint)
        yield endpoint
    finally:
        server.stop()


def _dynalite_binary() -> str:
    configured = os.environ.get("HITBOX_DYNALITE")
    if configured:
        return configured
    if shutil.which("node") is None:
        service_unavailable("node is not installed (needed for dynalite)")
    local = DYNALITE_DIR / "node_modules" / ".bin" / "dynalite"
    if local.exists():
        return str(local)
    found = shutil.which("dynalite")
    if found is None:
        service_unavailable(f"dynalite is not installed; run: {DYNALITE_INSTALL}")
    return found


@pytest.fixture(scope="session")
def dynalite_endpoint(fake_aws_credentials: None) -> Iterator[str]:
    """URL of an in-memory dynalite server (no TTL API) with the table ``hitbox-cache``."""
    binary = _dynalite_binary()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="hitbox-dynalite-") as workdir:
        process = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "--port", str(port), "--createTableMs", "20"],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            try:
                wait_for_port(port, timeout=15)
            except TimeoutError:
                process.kill()
                _, err = process.communicate(timeout=5)
                service_unavailable(f"dynalite did not start: {err.decode(errors='replace')}")
            endpoint = f"http://127.0.0.1:{port}"
            _setup_table(endpoint)
            yield endpoint
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stderr is not None:
                process.stderr.close()


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
