"""AsyncCacheTransport: a private client-side cache for httpx."""

from __future__ import annotations

import gzip

import hitbox
import httpx
import pytest
from hitbox_http import AsyncCacheTransport
from hitbox_memory import MemoryBackend

from tests.http.asgi_apps import Origin, fixed
from tests.http.servers import serve


class Network:
    """An httpx mock network that counts requests and answers from ``answer``."""

    def __init__(self, *headers: tuple[str, str], body: bytes = b"hello") -> None:
        self.requests: list[httpx.Request] = []
        self.headers = list(headers)
        self.body = body
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("network down", request=request)
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304, headers=self.headers)
        return httpx.Response(200, headers=self.headers, content=self.body)


@pytest.fixture
def clock() -> hitbox.ManualClock:
    return hitbox.ManualClock()


def client_for(network: Network, clock: hitbox.ManualClock) -> httpx.AsyncClient:
    transport = AsyncCacheTransport(
        httpx.MockTransport(network), cache=MemoryBackend(clock=clock), clock=clock
    )
    return httpx.AsyncClient(transport=transport, base_url="https://api.example")


async def test_private_responses_and_authorized_requests_are_cached_for_the_client(
    clock: hitbox.ManualClock,
) -> None:
    network = Network(("cache-control", "private, max-age=60"))
    async with client_for(network, clock) as http:
        first = await http.get("/me", headers={"authorization": "Bearer me"})
        second = await http.get("/me", headers={"authorization": "Bearer me"})
    assert second.text == "hello"
    assert second.headers["cache-status"] == "hitbox; hit; ttl=60"
    assert first.headers["cache-status"].endswith("stored")
    assert len(network.requests) == 1


async def test_stale_responses_are_revalidated_conditionally(clock: hitbox.ManualClock) -> None:
    network = Network(("cache-control", "max-age=10"), ("etag", '"v1"'))
    async with client_for(network, clock) as http:
        await http.get("/doc")
        await clock.advance(30)
        revalidated = await http.get("/doc")
    assert revalidated.status_code == 200
    assert revalidated.text == "hello"
    assert network.requests[1].headers["if-none-match"] == '"v1"'
    assert "fwd-status=304" in revalidated.headers["cache-status"]


async def test_connection_errors_serve_stale_only_when_allowed(clock: hitbox.ManualClock) -> None:
    network = Network(("cache-control", "max-age=10, stale-if-error=100"))
    async with client_for(network, clock) as http:
        await http.get("/a")
        await clock.advance(30)
        network.down = True
        stale = await http.get("/a")
        await clock.advance(500)
        with pytest.raises(httpx.ConnectError):
            await http.get("/a")
    assert stale.text == "hello"
    assert "detail=stale-if-error" in stale.headers["cache-status"]


async def test_unsafe_requests_go_through_and_invalidate(clock: hitbox.ManualClock) -> None:
    network = Network(("cache-control", "max-age=60"))
    async with client_for(network, clock) as http:
        await http.get("/item")
        await http.put("/item", content=b"new")
        await http.get("/item")
    assert [r.method for r in network.requests] == ["GET", "PUT", "GET"]
    assert network.requests[1].content == b"new"


@pytest.mark.services
async def test_against_a_real_server_with_compressed_bodies() -> None:
    body = gzip.compress(b"compressed " * 50)
    origin = Origin(
        fixed(200, ("cache-control", "max-age=60"), ("content-encoding", "gzip"), body=body)
    )
    with serve(origin) as url:
        transport = AsyncCacheTransport(cache=MemoryBackend())
        async with httpx.AsyncClient(transport=transport, base_url=url) as http:
            first = await http.get("/z")
            second = await http.get("/z")
        await transport.aclose()
    assert first.text == second.text == "compressed " * 50
    assert second.headers["cache-status"].startswith("hitbox; hit")
    assert len(origin.calls) == 1
