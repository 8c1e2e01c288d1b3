"""The proxy as the edge: client-supplied forwarding fields never reach the origin (unless
the client is a trusted proxy), the proxy sets its own, and malformed requests get a 4xx
and one log line — against real servers on loopback."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hitbox
import httpx
import pytest
from hitbox_http import HttpCache, HttpPolicy
from hitbox_http._edge import DEFAULT_FORWARDING_HEADERS, EdgePolicy
from hitbox_http._proxy import CachingProxy
from hitbox_memory import MemoryBackend

from tests.http.asgi_apps import Origin
from tests.http.helpers import raw_exchange
from tests.http.servers import SERVERS, serve
from tests.support import free_port, wait_for_port

pytestmark = pytest.mark.services

# The fields the issue lists, each of which some framework acts on.
ISSUE_LIST = (
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-for",
    "x-real-ip",
    "true-client-ip",
    "x-client-ip",
    "x-forwarded-ssl",
    "front-end-https",
    "x-url-scheme",
    "x-original-host",
    "x-http-host-override",
    "x-forwarded-uri",
    "x-forwarded-path",
)
EVIL = "203.0.113.66"


def echo_headers(scope: Any, _: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    seen: dict[str, list[str]] = {}
    for name, value in scope["headers"]:
        seen.setdefault(name.decode(), []).append(value.decode())
    return 200, [("cache-control", "max-age=60")], json.dumps(seen).encode()


@pytest.fixture(scope="module")
def origin() -> Iterator[tuple[str, Origin]]:
    app = Origin(echo_headers)
    with serve(app) as url:
        yield url, app


def proxy(upstream: str, **edge: Any) -> CachingProxy:
    return CachingProxy(upstream, HttpCache(MemoryBackend(), HttpPolicy()), timeout=5, edge=edge)


@pytest.fixture(scope="module", params=SERVERS)
def edge(origin: tuple[str, Origin], request: pytest.FixtureRequest) -> Iterator[str]:
    with serve(proxy(origin[0]), http=request.param) as url:
        yield url


def test_the_default_list_covers_the_issue_s_list() -> None:
    assert set(ISSUE_LIST) <= set(DEFAULT_FORWARDING_HEADERS)


@pytest.mark.parametrize("name", DEFAULT_FORWARDING_HEADERS)
async def test_each_client_forwarding_field_is_dropped(edge: str, name: str) -> None:
    value = f"for={EVIL}" if name == "forwarded" else EVIL
    async with httpx.AsyncClient(base_url=edge) as http:
        response = await http.get(f"/echo-{name}", headers={name: value})
    seen = response.json()
    assert EVIL not in response.text, name
    # The proxy's own, from what it saw.
    host = edge.removeprefix("http://")
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert seen["x-forwarded-proto"] == ["http"]
    assert seen["x-forwarded-host"] == [host]
    assert seen["forwarded"] == [f'for=127.0.0.1;host="{host}";proto=http']


async def test_dropped_fields_neither_reach_the_origin_nor_split_the_key(
    edge: str, origin: tuple[str, Origin]
) -> None:
    before = len(origin[1].calls)
    async with httpx.AsyncClient(base_url=edge) as http:
        poisoned = await http.get(
            "/page", headers={"x-forwarded-host": "evil.example", "x-original-url": "/admin"}
        )
        clean = await http.get("/page")
    assert "evil.example" not in poisoned.text
    assert "/admin" not in poisoned.text
    assert clean.headers["cache-status"].startswith("hitbox; hit")
    assert len(origin[1].calls) - before == 1


async def test_a_trusted_proxy_s_fields_are_kept_and_extended(origin: tuple[str, Origin]) -> None:
    with serve(proxy(origin[0], trusted_proxies=["127.0.0.0/8"])) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            response = await http.get(
                "/trusted",
                headers={
                    "x-forwarded-for": "198.51.100.7",
                    "x-forwarded-proto": "https",
                    "x-forwarded-host": "shop.example",
                    "forwarded": 'for=198.51.100.7;proto=https;host="shop.example"',
                    "x-real-ip": "198.51.100.7",
                },
            )
    seen = response.json()
    host = url.removeprefix("http://")
    assert seen["x-forwarded-for"] == ["198.51.100.7, 127.0.0.1"]
    assert seen["x-forwarded-proto"] == ["https"]
    assert seen["x-forwarded-host"] == ["shop.example"]
    assert seen["x-real-ip"] == ["198.51.100.7"]
    assert seen["forwarded"] == [
        f'for=198.51.100.7;proto=https;host="shop.example", for=127.0.0.1;host="{host}";proto=http'
    ]


async def test_a_proxy_trusting_another_network_believes_nobody_here(
    origin: tuple[str, Origin],
) -> None:
    with serve(proxy(origin[0], trusted_proxies=["10.0.0.0/8", "::1"])) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            response = await http.get("/untrusted", headers={"x-forwarded-for": EVIL})
    assert response.json()["x-forwarded-for"] == ["127.0.0.1"]


def test_bad_edge_settings_are_one_line_config_errors() -> None:
    with pytest.raises(hitbox.ConfigError, match=r"proxy\.trusted_proxies: .*'nope'"):
        EdgePolicy.validated({"trusted_proxies": ["nope"]})
    with pytest.raises(hitbox.ConfigError, match=r"proxy\.forwarding_headers"):
        EdgePolicy.validated({"forwarding_headers": ["not a field"]})
    with pytest.raises(hitbox.ConfigError, match=r"proxy\.trust: unknown setting"):
        EdgePolicy.validated({"trust": True})


# -- malformed requests ---------------------------------------------------------------------

MALFORMED = {
    "length-and-encoding": (
        b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
        400,
    ),
    "get-length-and-encoding": (
        b"GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nEVIL\r\n0\r\n\r\n",
        400,
    ),
    "connect": (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405),
    "absolute-form": (b"GET http://evil.example/x HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "asterisk-form": (b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    # Refused by the HTTP server itself: still a 4xx, never a traceback.
    "invalid-length": (b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n", 400),
    "two-lengths": (
        b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        400,
    ),
    "unknown-coding": (b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    "two-hosts": (b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "garbage": (b"GARBAGE\r\n\r\n", 400),
}


# Who refuses what: the proxy (its edge checks), else the HTTP server. uvicorn's h11
# server lets the first two through to the proxy; hitbox's own server (httptools) refuses
# every malformed framing itself, and logs it as the proxy would.
REFUSED_BY_THE_PROXY = {
    "h11": {
        "length-and-encoding",
        "get-length-and-encoding",
        "connect",
        "absolute-form",
        "asterisk-form",
    },
    "fast": {"connect", "absolute-form", "asterisk-form", "two-hosts"},
}


@pytest.mark.parametrize("http", SERVERS)
@pytest.mark.parametrize("case", MALFORMED)
async def test_malformed_requests_get_a_4xx_and_one_log_line(
    origin: tuple[str, Origin], case: str, http: str, caplog: pytest.LogCaptureFixture
) -> None:
    data, status = MALFORMED[case]
    before = len(origin[1].calls)
    caplog.set_level(logging.INFO)
    with serve(proxy(origin[0]), http=http) as url:
        answer = await raw_exchange(url, data)
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:80]
    assert len(origin[1].calls) == before  # nothing reached the origin
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    ours = [r.getMessage() for r in caplog.records if r.name == "hitbox_http.proxy"]
    server = [r.getMessage() for r in caplog.records if r.name == "hitbox_http.server"]
    if case in REFUSED_BY_THE_PROXY[http]:
        assert len(ours) == 1, ours
        assert ours[0].startswith(f"hitbox proxy: refused a request with {status}")
        assert server == []
    else:
        assert ours == []
        if http == "fast":
            assert len(server) == 1, server
            assert server[0].startswith(f"hitbox proxy: refused a request with {status}")


# -- `hitbox proxy`: uvicorn must not believe X-Forwarded-For either ------------------------


@pytest.mark.slow
def test_hitbox_proxy_believes_only_its_trusted_proxies(
    origin: tuple[str, Origin], tmp_path: Path
) -> None:
    config = tmp_path / "hitbox.toml"
    config.write_text('[hitbox]\nbackend = "memory"\n[hitbox.proxy]\ntrusted_proxies = []\n')
    for trusted, expected in (([], ["127.0.0.1"]), (["127.0.0.1"], [f"{EVIL}, 127.0.0.1"])):
        port = free_port()
        flags = [arg for address in trusted for arg in ("--trusted-proxy", address)]
        command = [
            *(sys.executable, "-m", "hitbox", "proxy", "--upstream", origin[0]),
            *("--listen", f"127.0.0.1:{port}", "--config", str(config), *flags),
        ]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_for_port(port, timeout=20)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
                seen = http.get("/cli-trust", headers={"x-forwarded-for": EVIL}).json()
        finally:
            process.terminate()
            process.wait(timeout=10)
        assert seen["x-forwarded-for"] == expected


def test_hitbox_proxy_rejects_a_bad_trusted_proxy_in_one_line() -> None:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "hitbox", "proxy", "--upstream", "http://127.0.0.1:1"),
            *("--listen", "127.0.0.1:1", "--trusted-proxy", "nope"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "trusted_proxies" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
