"""The proxy's admin endpoint and `hitbox stats`, end to end on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import hitbox
import httpx
import pytest
from hitbox.cli import main
from hitbox_http import AdminApp, HttpCache
from hitbox_memory import MemoryBackend

from tests.http.asgi_apps import Origin
from tests.http.servers import serve
from tests.support import free_port, wait_for_port

pytestmark = pytest.mark.services

HITBOX = [sys.executable, "-m", "hitbox"]
TOKEN = "correct-horse-battery-staple"


def route(scope: Any, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    if scope["path"].startswith("/cached"):
        return 200, [("cache-control", "max-age=60")], b"cached"
    return 404, [], b"origin 404"


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    with serve(Origin(route)) as url:
        yield url


@contextmanager
def running_proxy(
    upstream: str, *extra: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, str]]:
    """``hitbox proxy --admin`` as a real process; yields (proxy URL, admin URL)."""
    port, admin_port = free_port(), free_port()
    command = [
        *HITBOX,
        "proxy",
        "--upstream",
        upstream,
        "--listen",
        f"127.0.0.1:{port}",
        "--admin",
        f"127.0.0.1:{admin_port}",
        *extra,
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    try:
        wait_for_port(port, timeout=20)
        wait_for_port(admin_port, timeout=5)
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def hitbox_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "HITBOX_ADMIN_TOKEN"}
    environment.update(env or {})
    environment["COLUMNS"] = "100"  # rich: a stable table width
    return subprocess.run(
        [*HITBOX, *args], capture_output=True, text=True, timeout=60, env=environment
    )


def test_hitbox_stats_shows_the_live_counters_of_a_running_proxy(origin: str) -> None:
    with running_proxy(origin) as (proxy, admin):
        with httpx.Client(base_url=proxy) as http:
            assert http.get("/cached").text == "cached"
            assert http.get("/cached").headers["cache-status"].startswith("hitbox; hit")
            http.get("/cached?other")
            # The admin paths are the origin's on the proxied port.
            assert http.get("/stats").text == "origin 404"
        result = hitbox_cli("stats", "--url", admin, "--json")
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        assert document["backend"] == "memory"
        assert document["upstream"] == origin
        assert document["breaker"] is None  # RFC mode has no circuit breaker
        assert 0 < document["uptime"] < 60
        stats = document["stats"]
        assert (stats["hits"], stats["misses"], stats["stale"]) == (1, 3, 0)
        assert stats["upstream_calls"] == 3
        assert stats["requests"] == 4
        assert stats["hit_ratio"] == 0.25
        table = hitbox_cli("stats", "--url", admin)
    assert table.returncode == 0, table.stderr
    assert "hit ratio" in table.stdout
    assert "25.0%" in table.stdout
    assert "memory" in table.stdout


def test_a_token_guards_the_endpoint(
    origin: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_proxy(origin, env={"HITBOX_ADMIN_TOKEN": TOKEN}) as (_, admin):
        refused = in_process(capsys, "stats", "--url", admin)
        wrong = in_process(capsys, "stats", "--url", admin, "--token", "x" * 20)
        raw = httpx.get(admin, headers={"authorization": f"Bearer {TOKEN}", "host": "a.example"})
        monkeypatch.setenv("HITBOX_ADMIN_TOKEN", TOKEN)
        allowed = in_process(capsys, "stats", "--url", admin, "--json")
    for code, err, _ in (refused, wrong):
        assert code == 2
        assert err.count("\n") == 1
        assert "refused the request" in err
    assert "--token" in refused[1]
    assert allowed[0] == 0, allowed[1]
    assert json.loads(allowed[2])["backend"] == "memory"
    assert raw.status_code == 200  # with a token, any Host may ask
    assert raw.json()["stats"]["requests"] == 0


def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``hitbox ARGS`` in this process (as the script does); (code, stderr, stdout)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.err, captured.out


@pytest.fixture(autouse=True)
def no_token_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HITBOX_ADMIN_TOKEN", raising=False)


def test_unreachable_endpoint_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, err, _ = in_process(capsys, "stats", "--url", url, "--timeout", "2")
    assert code == 1
    assert err.startswith("hitbox: error: cannot reach the admin endpoint")
    assert len(err.strip().splitlines()) == 1


def test_something_else_answering_exits_1(origin: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err, _ = in_process(capsys, "stats", "--url", origin)  # HTTP, but not the admin endpoint
    assert code == 1
    assert "without hitbox stats" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stats", "--url", "ftp://127.0.0.1:1"], "--url"),
        (["stats", "--url", "http://127.0.0.1:99999"], "--url"),
        (["stats", "--timeout", "0"], "--timeout"),
        (["proxy", "--upstream", "http://127.0.0.1:1", "--admin", "0.0.0.0:9181"], "token"),
        (["proxy", "--upstream", "http://127.0.0.1:1", "--admin", "nope"], "--admin"),
        (
            [
                "proxy",
                "--upstream",
                "http://127.0.0.1:1",
                "--admin",
                "9181",
                "--listen",
                "::1:9181",
            ],
            "--admin",
        ),
        (
            ["proxy", "--upstream", "http://127.0.0.1:1", "--admin", "--admin-token", "short"],
            "--admin-token",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err, _ = in_process(capsys, *args)
    assert code == 2, err
    assert err.startswith("hitbox: error:")
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_admin_port_in_use_is_one_line_and_exit_2(origin: str) -> None:
    with serve(Origin(route)) as busy:
        port = busy.rsplit(":", 1)[1]
        result = hitbox_cli("proxy", "--upstream", origin, "--admin", f"127.0.0.1:{port}")
    assert result.returncode == 2
    assert "cannot listen" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


async def admin_get(app: AdminApp, path: str = "/", **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:9181") as http:
        return await http.request(kwargs.pop("method", "GET"), path, **kwargs)


async def test_without_a_token_only_loopback_hosts_are_answered() -> None:
    app = AdminApp(HttpCache(MemoryBackend()))
    for host in ("127.0.0.1:9181", "localhost", "[::1]:9181", "127.0.0.2"):
        assert (await admin_get(app, headers={"host": host})).status_code == 200, host
    # A page whose DNS name was rebound to 127.0.0.1 still sends its own name.
    rebound = await admin_get(app, headers={"host": "attacker.example:9181"})
    assert rebound.status_code == 403
    assert "attacker.example" in rebound.json()["error"]


async def test_paths_methods_and_headers() -> None:
    app = AdminApp(HttpCache(MemoryBackend()), upstream="http://user:secret@origin:9000")
    ok = await admin_get(app, "/stats")
    assert ok.headers["cache-control"] == "no-store"
    assert ok.json()["upstream"] == "http://origin:9000"
    head = await admin_get(app, method="HEAD")
    assert (head.status_code, head.content) == (200, b"")
    assert (await admin_get(app, "/other")).status_code == 404
    post = await admin_get(app, method="POST")
    assert (post.status_code, post.headers["allow"]) == (405, "GET, HEAD")


async def test_a_core_cache_reports_its_breaker() -> None:
    cache = hitbox.Cache(MemoryBackend())
    await cache.set("k", "v")
    await cache.get("k")
    document = (await admin_get(AdminApp(cache))).json()
    assert document["breaker"] == "closed"
    assert document["stats"]["hits"] == 1
    assert document["backend"] == "MemoryBackend"
