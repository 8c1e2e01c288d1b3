"""How `hitbox proxy` is served: its own HTTP/1.1 server or uvicorn's, the event loop, --workers."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hitbox_http import CachingProxy, HttpCache, HttpPolicy
from hitbox_http._httptools import TargetKeepingProtocol
from hitbox_memory import MemoryBackend

from tests.http.asgi_apps import Origin, fixed
from tests.http.helpers import raw_exchange
from tests.http.servers import serve
from tests.support import free_port, wait_for_port

# Refused by h11 before an app sees them; uvicorn's httptools server passes them on, so
# the proxy refuses them itself.
PASSED_ON_BY_HTTPTOOLS = {
    "two-hosts": b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "unknown-coding": b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
}

CACHEABLE = fixed(200, ("cache-control", "max-age=600"), body=b"stored")


@pytest.fixture(scope="module")
def origin() -> Iterator[tuple[str, Origin]]:
    app = Origin(CACHEABLE)
    with serve(app) as url:
        yield url, app


def _proxy(upstream: str) -> CachingProxy:
    return CachingProxy(upstream, HttpCache(MemoryBackend(), HttpPolicy()), timeout=5)


@pytest.mark.parametrize("case", PASSED_ON_BY_HTTPTOOLS)
async def test_the_proxy_refuses_what_httptools_passes_on(
    origin: tuple[str, Origin], case: str, caplog: pytest.LogCaptureFixture
) -> None:
    before = len(origin[1].calls)
    caplog.set_level(logging.INFO)
    with serve(_proxy(origin[0]), http=TargetKeepingProtocol) as url:
        answer = await raw_exchange(url, PASSED_ON_BY_HTTPTOOLS[case])
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:80]
    assert len(origin[1].calls) == before  # nothing reached the origin
    ours = [r.getMessage() for r in caplog.records if r.name == "hitbox_http.proxy"]
    assert len(ours) == 1, ours
    assert ours[0].startswith("hitbox proxy: refused a request with 400")


TARGETS_THAT_ARE_NOT_PATHS = {
    "absolute-form": b"GET http://evil.example/x HTTP/1.1\r\nHost: h\r\n\r\n",
    "asterisk-form": b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
}


@pytest.mark.parametrize("case", TARGETS_THAT_ARE_NOT_PATHS)
async def test_under_httptools_the_proxy_still_sees_the_request_target(
    origin: tuple[str, Origin], case: str, caplog: pytest.LogCaptureFixture
) -> None:
    before = len(origin[1].calls)
    caplog.set_level(logging.INFO)
    with serve(_proxy(origin[0]), http=TargetKeepingProtocol) as url:
        answer = await raw_exchange(url, TARGETS_THAT_ARE_NOT_PATHS[case])
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:80]
    assert len(origin[1].calls) == before
    ours = [r.getMessage() for r in caplog.records if r.name == "hitbox_http.proxy"]
    assert ours == ["hitbox proxy: refused a request with 400: the request target must be a path"]


@pytest.mark.parametrize("http", ["h11", "httptools"])
async def test_hits_are_the_same_under_either_server(origin: tuple[str, Origin], http: str) -> None:
    protocol = TargetKeepingProtocol if http == "httptools" else http
    with serve(_proxy(origin[0]), http=protocol) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            first = await client.get(f"/same-{http}")
            second = await client.get(f"/same-{http}")
    assert first.content == second.content == b"stored"
    assert "fwd=uri-miss" in first.headers["cache-status"]
    assert "hit" in second.headers["cache-status"]
    assert second.headers["age"].isdigit()


# -- `hitbox proxy` processes ----------------------------------------------------------------

# Runs `hitbox proxy` as if httptools and uvloop were not installed: importing them fails.
WITHOUT_EXTRAS = (
    "import sys; sys.modules['httptools'] = None; sys.modules['uvloop'] = None; "
    "sys.argv[0] = 'hitbox'; from hitbox.cli import main; main()"
)


def _start(args: list[str], *, without_extras: bool = False) -> subprocess.Popen[str]:
    head = ["-c", WITHOUT_EXTRAS] if without_extras else ["-m", "hitbox"]
    return subprocess.Popen(
        [sys.executable, *head, "proxy", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


# uvicorn shuts down on SIGTERM, then re-raises it: one worker ends "killed by SIGTERM";
# the workers' supervisor exits with 0.
STOPPED = (0, -signal.SIGTERM)


def _stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM to the proxy (its supervisor, with workers); its exit code and stderr."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        raise
    return process.returncode, stderr


def _fetch_twice(port: int, path: str) -> list[httpx.Response]:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        return [http.get(path), http.get(path)]


@pytest.mark.slow
@pytest.mark.parametrize("http", ["fast", "h11"])
def test_two_workers_start_serve_and_stop(
    origin: tuple[str, Origin], tmp_path: Path, http: str
) -> None:
    config = tmp_path / "hitbox.toml"
    config.write_text(f'[hitbox.backend]\nname = "sqlite"\npath = "{tmp_path / "cache.db"}"\n')
    port = free_port()
    process = _start(
        [
            "--upstream",
            origin[0],
            "--listen",
            f"127.0.0.1:{port}",
            "--config",
            str(config),
            "--workers",
            "2",
            "--http",
            http,
        ]
    )
    try:
        wait_for_port(port, timeout=30)
        responses = []
        for _ in range(3):  # new connections: the kernel spreads them over the workers
            responses += _fetch_twice(port, "/workers")
        children = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(process.pid)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
    finally:
        code, stderr = _stop(process)
    assert [r.status_code for r in responses] == [200] * 6
    assert all(r.content == b"stored" for r in responses)
    # One shared SQLite file: after the first miss every worker answers from it.
    assert ["hit" in r.headers["cache-status"] for r in responses[1:]] == [True] * 5
    assert len(children) >= 2  # the workers (and multiprocessing's resource tracker)
    assert code in STOPPED, stderr
    assert "Traceback" not in stderr


@pytest.mark.slow
def test_the_memory_backend_with_workers_says_it_is_per_worker(
    origin: tuple[str, Origin],
) -> None:
    port = free_port()
    process = _start(["--upstream", origin[0], "--listen", f"127.0.0.1:{port}", "--workers", "2"])
    try:
        wait_for_port(port, timeout=30)
        assert _fetch_twice(port, "/per-worker")[0].status_code == 200
    finally:
        code, stderr = _stop(process)
    assert code in STOPPED, stderr
    assert "the memory backend is per worker" in stderr
    assert "Traceback" not in stderr


@pytest.mark.slow
def test_the_proxy_serves_without_httptools_and_uvloop(origin: tuple[str, Origin]) -> None:
    port = free_port()
    process = _start(
        ["--upstream", origin[0], "--listen", f"127.0.0.1:{port}"], without_extras=True
    )
    try:
        wait_for_port(port, timeout=30)
        first, second = _fetch_twice(port, "/no-extras")
    finally:
        code, stderr = _stop(process)
    assert first.content == second.content == b"stored"
    assert "hit" in second.headers["cache-status"]
    assert code in STOPPED, stderr


@pytest.mark.parametrize("http", ["httptools", "fast"])
def test_a_server_on_httptools_without_httptools_is_one_line(http: str) -> None:
    process = _start(
        ["--upstream", "http://127.0.0.1:1", "--listen", "127.0.0.1:1", "--http", http],
        without_extras=True,
    )
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert f"--http {http}: httptools is not installed" in stderr
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_admin_with_workers_is_refused_in_one_line() -> None:
    process = _start(
        ["--upstream", "http://127.0.0.1:1", "--listen", "127.0.0.1:1", "--workers", "2", "--admin"]
    )
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "--workers 1" in stderr
    assert "Traceback" not in stderr


def _serving_pids(port: int) -> set[int]:
    """The processes holding the accepted (server-side) connections on ``port``."""
    listing = subprocess.run(
        ["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {int(pid) for pid in re.findall(r"pid=(\d+)", listing)}


@pytest.mark.slow
def test_two_workers_share_a_tiered_memory_and_sqlite_backend(
    origin: tuple[str, Origin], tmp_path: Path
) -> None:
    config = tmp_path / "hitbox.toml"
    config.write_text(
        '[hitbox.backend]\nname = "tiered"\nmax_l1_ttl = 5\n'
        f'tiers = [{{name = "memory"}}, {{name = "sqlite", path = "{tmp_path / "cache.db"}"}}]\n'
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    listen = ["--listen", f"127.0.0.1:{port}"]
    process = _start(["--upstream", origin[0], *listen, "--config", str(config), "--workers", "2"])
    clients: list[httpx.Client] = []
    try:
        wait_for_port(port, timeout=30)
        with httpx.Client(base_url=base, timeout=10) as first:
            stored = first.get("/tiered")  # a miss: one worker stores it (its L1 and L2)
        # Many connections, held open: the kernel spreads them over both workers, and
        # each asks twice (the second, an L1 hit, answered in place).
        clients = [httpx.Client(base_url=base, timeout=10) for _ in range(24)]
        responses = [response for client in clients for response in _twice(client, "/tiered")]
        serving = _serving_pids(port)
    finally:
        for client in clients:
            client.close()
        code, stderr = _stop(process)
    assert stored.status_code == 200
    assert "Traceback" not in stderr
    assert code in STOPPED, stderr
    assert "per worker" not in stderr  # L2 is shared: no warning
    assert len(serving) == 2  # both workers held connections ...
    # ... and every answer was the stored response: the worker that did not store it
    # served it from the shared SQLite file (then from its own L1).
    assert [r.status_code for r in responses] == [200] * 48
    assert all(r.content == b"stored" for r in responses)
    assert all("hit" in r.headers["cache-status"] for r in responses)
    assert sum(call["path"] == "/tiered" for call in origin[1].calls) == 1


def _twice(client: httpx.Client, path: str) -> list[httpx.Response]:
    return [client.get(path), client.get(path)]
