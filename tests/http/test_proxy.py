"""The caching reverse proxy against real upstream servers on loopback (uvicorn, raw TCP)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from hitbox_http import HttpCache, HttpPolicy
from hitbox_http._proxy import CachingProxy
from hitbox_memory import MemoryBackend

from tests.http.asgi_apps import Origin
from tests.http.servers import BadOrigin, serve
from tests.support import free_port, wait_for_port

pytestmark = pytest.mark.services


def route(scope: Any, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    path = scope["path"]
    if path.startswith("/cached"):
        return (
            200,
            [("cache-control", "max-age=60, stale-if-error=600"), ("etag", '"v1"')],
            b"cached",
        )
    if path == "/headers":
        seen = {k.decode(): v.decode() for k, v in scope["headers"]}
        return 200, [("content-type", "application/json")], json.dumps(seen).encode()
    if path == "/upload":
        return 201, [("location", "/cached-upload")], str(len(body)).encode()
    if path == "/multi":
        return (
            200,
            [
                ("x-multi", "a"),
                ("x-multi", "b"),
                ("date", "Mon, 01 Jan 2024 00:00:00 GMT"),
                ("server", "origin/1.0"),
            ],
            b"multi",
        )
    return 404, [], b"nope"


@pytest.fixture(scope="module")
def origin() -> Iterator[tuple[str, Origin]]:
    app = Origin(route)
    with serve(app) as url:
        yield url, app


def proxy_for(upstream: str, **policy: Any) -> CachingProxy:
    return CachingProxy(upstream, HttpCache(MemoryBackend(), HttpPolicy(**policy)), timeout=0.5)


@pytest.fixture
def proxy(origin: tuple[str, Origin]) -> Iterator[str]:
    with serve(proxy_for(origin[0])) as url:
        yield url


async def test_cached_through_the_proxy_with_single_date_and_server(
    proxy: str, origin: tuple[str, Origin]
) -> None:
    before = len(origin[1].calls)
    async with httpx.AsyncClient(base_url=proxy) as http:
        first = await http.get("/cached?a")
        second = await http.get("/cached?a")
        multi = await http.get("/multi")
    assert first.headers["cache-status"] == "hitbox; fwd=uri-miss; fwd-status=200; stored"
    assert second.headers["cache-status"].startswith("hitbox; hit; ttl=")
    assert second.text == "cached"
    assert len(origin[1].calls) - before == 2
    assert multi.headers.get_list("x-multi") == ["a", "b"]
    assert multi.headers.get_list("date") == ["Mon, 01 Jan 2024 00:00:00 GMT"]
    assert multi.headers.get_list("server") == ["origin/1.0"]
    assert len(first.headers.get_list("date")) == 1


async def test_hop_by_hop_request_fields_are_removed_and_forwarding_fields_set(proxy: str) -> None:
    async with httpx.AsyncClient(base_url=proxy) as http:
        response = await http.get(
            "/headers",
            headers={
                "connection": "keep-alive, x-conn",
                "x-conn": "secret",
                "te": "trailers",
                "proxy-authorization": "Basic Zm9v",
                "x-forwarded-host": "evil.example",
                "x-kept": "1",
            },
        )
    seen = response.json()
    for name in ("x-conn", "te", "proxy-authorization"):
        assert name not in seen
    assert seen["x-kept"] == "1"
    assert seen["x-forwarded-host"] == proxy.removeprefix("http://")
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"


async def test_request_bodies_stream_and_unsafe_requests_invalidate(proxy: str) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"x" * 16384

    async with httpx.AsyncClient(base_url=proxy) as http:
        await http.get("/cached-upload")
        assert (await http.get("/cached-upload")).headers["cache-status"].startswith("hitbox; hit")
        posted = await http.post("/upload", content=body())
        after = await http.get("/cached-upload")
    assert posted.status_code == 201
    assert posted.text == str(64 * 16384)
    assert after.headers["cache-status"].startswith("hitbox; fwd=uri-miss")  # Location invalidated


async def test_unreachable_and_slow_upstreams_map_to_502_504_or_stale() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with serve(proxy_for(dead)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/x")).status_code == 502
    with BadOrigin() as bad, serve(proxy_for(bad)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            assert (await http.get("/slow")).status_code == 504


class ShiftedClock:
    """Wall time plus an offset the test moves (the proxy runs in another thread)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


async def test_stale_if_error_when_the_origin_goes_away() -> None:
    clock = ShiftedClock()
    port = free_port()
    upstream = f"http://127.0.0.1:{port}"
    proxy = CachingProxy(
        upstream, HttpCache(MemoryBackend(), HttpPolicy(), clock=clock), timeout=0.5
    )
    with serve(proxy) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            with serve(Origin(route), port=port):
                await http.get("/cached-sie")
            clock.offset = 120  # stale, within stale-if-error=600
            stale = await http.get("/cached-sie")
            clock.offset = 10_000  # far past it: an honest error
            gone = await http.get("/cached-sie")
    assert stale.status_code == 200
    assert stale.text == "cached"
    assert "detail=stale-if-error" in stale.headers["cache-status"]
    assert gone.status_code == 502


async def test_misbehaving_upstream_fails_one_response_and_never_poisons_the_pool() -> None:
    with BadOrigin() as bad, serve(proxy_for(bad)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            # The one broken response fails: read whole to be stored, it becomes a 502.
            assert (await http.get("/long-length")).status_code == 502
            assert (await http.get("/ok")).text == "ok"
            assert (await http.get("/short-length")).text == "abc"
            for _ in range(3):
                response = await http.get("/ok")
                assert response.status_code == 200
                assert response.text == "ok"
            assert (await http.get("/bad-te")).status_code == 502
            assert (await http.get("/double-te")).status_code == 502
            odd = await http.get("/status-999")
            assert odd.status_code == 999
            assert odd.text == "odd"
            assert (await http.get("/status-102")).text == "final"
            hop = await http.get("/hop")
    assert "x-secret" not in hop.headers
    assert "keep-alive" not in hop.headers
    assert "upgrade" not in hop.headers
    assert hop.headers.get_list("set-cookie") == ["a=1", "b=2"]


@pytest.mark.slow
def test_hitbox_proxy_command_end_to_end(origin: tuple[str, Origin], tmp_path: Any) -> None:
    config = tmp_path / "hitbox.toml"
    config.write_text('[hitbox]\nbackend = "memory"\n[hitbox.http]\ncache_name = "edge"\n')
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "hitbox",
        "proxy",
        "--upstream",
        origin[0],
        "--listen",
        f"127.0.0.1:{port}",
        "--config",
        str(config),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, timeout=20)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            http.get("/cached-cli")
            second = http.get("/cached-cli")
        assert second.headers["cache-status"].startswith("edge; hit")
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--upstream", "http://127.0.0.1:1", "--listen", "nope"], "--listen"),
        (["--upstream", "ftp://x", "--listen", "127.0.0.1:1"], "upstream"),
        (["--listen", "127.0.0.1:1"], "--upstream"),
    ],
)
def test_hitbox_proxy_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hitbox", "proxy", *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


async def test_proxy_rejects_a_malformed_host(proxy: str) -> None:
    import asyncio

    host, port = proxy.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET / HTTP/1.1\r\nHost: [bad\r\nConnection: close\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"cache-status: hitbox; detail=invalid-host" in answer.lower()
