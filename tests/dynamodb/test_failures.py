"""Throttling, network errors and timeouts: the backend raises promptly, the cache fails open.

A tiny fake DynamoDB endpoint on a loopback port answers every request the way a
throttled or broken service does, so botocore's real retry and timeout machinery runs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import hitbox
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from hitbox.testing import make_value
from hitbox_dynamodb import DynamoDBBackend

from tests.dynamodb.conftest import REGION, TABLE
from tests.support import free_port

THROTTLED = "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
THROTTLING = "com.amazon.coral.availability#ThrottlingException"
# A hang would block the suite; every operation here must end well before this.
HANG_GUARD = 15.0


class FakeEndpoint:
    """Answers each request with ``error_type`` (HTTP 400), or never, or by hanging up."""

    def __init__(self, behaviour: str, error_type: str = THROTTLED) -> None:
        self.behaviour = behaviour
        self.error_type = error_type
        self.requests: list[str] = []
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._held: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> FakeEndpoint:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in self._held:
            writer.close()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = dict(
                    line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if ": " in line
                )
                lowered = {k.lower(): v for k, v in headers.items()}
                await reader.readexactly(int(lowered.get("content-length", "0")))
                self.requests.append(lowered.get("x-amz-target", "?").split(".")[-1])
                if self.behaviour == "hang":
                    self._held.append(writer)
                    return
                if self.behaviour == "hang-up":
                    writer.close()
                    return
                body = json.dumps({"__type": self.error_type, "message": "slow down"}).encode()
                writer.write(
                    b"HTTP/1.1 400 Bad Request\r\n"
                    b"Content-Type: application/x-amz-json-1.0\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


def backend_for(url: str, **settings: Any) -> DynamoDBBackend:
    return DynamoDBBackend(table=TABLE, endpoint_url=url, region=REGION, **settings)


@pytest.fixture
async def throttled() -> AsyncIterator[FakeEndpoint]:
    async with FakeEndpoint("error") as endpoint:
        yield endpoint


@pytest.mark.parametrize(
    ("error_type", "code"),
    [(THROTTLED, "ProvisionedThroughputExceededException"), (THROTTLING, "ThrottlingException")],
)
async def test_throttling_raises_after_the_configured_attempts(error_type: str, code: str) -> None:
    async with FakeEndpoint("error", error_type) as endpoint:
        backend = backend_for(endpoint.url, max_attempts=2)
        try:
            with pytest.raises(ClientError) as caught:
                await asyncio.wait_for(backend.get("k"), HANG_GUARD)
        finally:
            await backend.aclose()
    assert caught.value.response["Error"]["Code"] == code
    assert endpoint.requests == ["GetItem", "GetItem"]


async def test_every_operation_raises_when_throttled(throttled: FakeEndpoint) -> None:
    backend = backend_for(throttled.url, max_attempts=1)
    operations = [
        backend.set("k", make_value(), 60),
        backend.delete("k"),
        backend.get_many(["a", "b"]),
        backend.set_many({"a": (make_value(), 60.0)}),
        backend.delete_many(["a"]),
        backend.acquire_lock("k", 5),
        backend.release_lock("k", "token"),
        backend.ping(),
    ]
    try:
        for operation in operations:
            with pytest.raises(ClientError):
                await asyncio.wait_for(operation, HANG_GUARD)
    finally:
        await backend.aclose()
    assert len(throttled.requests) == len(operations)


async def test_a_server_that_never_answers_times_out() -> None:
    async with FakeEndpoint("hang") as endpoint:
        backend = backend_for(endpoint.url, read_timeout=0.3, max_attempts=2)
        started = time.monotonic()
        try:
            with pytest.raises(ReadTimeoutError):
                await asyncio.wait_for(backend.get("k"), HANG_GUARD)
        finally:
            await backend.aclose()
        elapsed = time.monotonic() - started
    assert endpoint.requests == ["GetItem", "GetItem"]
    assert elapsed < HANG_GUARD / 3


async def test_a_server_that_hangs_up_raises() -> None:
    async with FakeEndpoint("hang-up") as endpoint:
        backend = backend_for(endpoint.url, max_attempts=1)
        try:
            with pytest.raises(Exception) as caught:  # botocore's ConnectionClosedError
                await asyncio.wait_for(backend.get("k"), HANG_GUARD)
        finally:
            await backend.aclose()
    assert not isinstance(caught.value, asyncio.TimeoutError)


async def test_nothing_listening_raises_connection_error() -> None:
    backend = backend_for(f"http://127.0.0.1:{free_port()}", max_attempts=1)
    try:
        with pytest.raises(EndpointConnectionError):
            await asyncio.wait_for(backend.get("k"), HANG_GUARD)
    finally:
        await backend.aclose()


async def test_cache_fails_open_on_a_throttled_table(throttled: FakeEndpoint) -> None:
    backend = backend_for(throttled.url, max_attempts=1)
    calls = 0
    async with hitbox.Cache(backend=backend, policy={"ttl": 60}) as cache:

        @cache.cached(key="user:{user_id}")
        async def get_user(user_id: int) -> dict[str, int]:
            nonlocal calls
            calls += 1
            return {"id": user_id}

        assert await asyncio.wait_for(get_user(1), HANG_GUARD) == {"id": 1}
        assert await asyncio.wait_for(get_user(1), HANG_GUARD) == {"id": 1}
        stats = cache.stats()
    assert calls == 2
    assert stats.errors >= 2
    assert throttled.requests  # the backend was really asked, and failed


@pytest.mark.services
async def test_cache_from_url_uses_the_plugin_end_to_end(moto_endpoint: str) -> None:
    url = f"dynamodb://{TABLE}?region={REGION}&endpoint_url={moto_endpoint}&read_timeout=30"
    calls = 0
    async with hitbox.Cache.from_url(url, policy={"ttl": 60}) as cache:
        assert isinstance(cache.backend, DynamoDBBackend)

        @cache.cached(key="e2e:{n}")
        async def square(n: int) -> int:
            nonlocal calls
            calls += 1
            return n * n

        marker = time.time_ns()
        assert await square(marker) == marker * marker
        assert await square(marker) == marker * marker
    assert calls == 1
