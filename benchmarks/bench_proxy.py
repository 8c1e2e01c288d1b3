"""Caching reverse proxies under load: ``hitbox proxy`` against nginx ``proxy_cache``.

    .venv/bin/python benchmarks/bench_proxy.py            # 5 rounds of 5 s per contender
    .venv/bin/python benchmarks/bench_proxy.py --quick    # 3 rounds of 2 s

Every contender serves the same 1 KiB response (``Cache-Control: max-age=600``) of the
same origin, and after one warm-up request every request is a cache hit. The load
generator is ``wrk`` (one thread, 32 connections, keep-alive) in its own process; rounds
interleave the contenders, the median round counts. Contenders:

* ``floor`` — a bare asyncio HTTP/1.1 server answering the response from memory (what a
  Python server costs at least, with no parsing beyond the request line);
* ``nginx proxy_cache`` — nginx, one worker, ``proxy_cache`` in a tmpfs-like directory;
* ``hitbox proxy`` — ``hitbox proxy`` with the default memory backend and server
  (``--http auto``: its own server when httptools is installed), one worker; two
  workers, each with its memory backend; two workers sharing one SQLite file; two
  workers with a tiered backend each (memory L1, the one SQLite file as L2), whose L1
  hits are answered in place; and
  one worker on uvicorn's h11 server (``--http h11``, the pure-Python fallback).

On a 2-core machine wrk takes one core, so a second worker mostly competes with it.

nginx and wrk come from Debian's packages: the script installs them with apt-get when
they are missing and it runs as root, and skips otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for the report package
from report import validate

BODY = b"x" * 1024
NGINX = "nginx proxy_cache, 1 worker"
HITBOX = "hitbox proxy, 1 worker"
HITBOX_2 = "hitbox proxy, 2 workers"
FLOOR = "floor (bare asyncio server)"
CONNECTIONS = 32
ORIGIN_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncache-control: max-age=600\r\n"
    b"content-length: 1024\r\n\r\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ensure_tools() -> str | None:
    """``None`` when nginx and wrk are there (installed now if need be), else why not."""
    missing = [tool for tool in ("nginx", "wrk") if shutil.which(tool) is None]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "nginx", "wrk"],
            check=False,
            env=env,
            capture_output=True,
        )
        missing = [tool for tool in ("nginx", "wrk") if shutil.which(tool) is None]
    return f"not installed: {', '.join(missing)}" if missing else None


FLOOR_SERVER = """
import asyncio, sys
RESPONSE = {response!r}
class Floor(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while b"\\r\\n\\r\\n" in self.buffer:
            _, self.buffer = self.buffer.split(b"\\r\\n\\r\\n", 1)
            self.transport.write(RESPONSE)
async def main():
    server = await asyncio.get_running_loop().create_server(Floor, "127.0.0.1", {port})
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


@contextlib.contextmanager
def process(args: list[str], **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, **kwargs
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_ready(url: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                response.read()
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def nginx_config(directory: Path, port: int, origin: int) -> Path:
    cache = directory / "cache"
    cache.mkdir()
    config = directory / "nginx.conf"
    # Run as root, nginx would hand its worker to "nobody", who cannot write our temp dir.
    user = "user root;" if os.geteuid() == 0 else ""
    config.write_text(
        f"""
{user}
worker_processes 1;
daemon off;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} error;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    proxy_cache_path {cache} levels=1:2 keys_zone=bench:10m max_size=100m;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy_temp;
    fastcgi_temp_path {directory}/fastcgi_temp;
    uwsgi_temp_path {directory}/uwsgi_temp;
    scgi_temp_path {directory}/scgi_temp;
    upstream origin {{ server 127.0.0.1:{origin}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
        }}
    }}
}}
"""
    )
    return config


def wrk(url: str, seconds: float) -> float:
    """Requests per second ``wrk`` measured against ``url``."""
    result = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", url],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if match is None:
        raise RuntimeError(f"wrk printed no rate:\n{result.stdout}\n{result.stderr}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    if errors:
        raise RuntimeError(f"{errors.group(1)} failed responses from {url}")
    return float(match.group(1))


def hitbox_proxy_options() -> str:
    """``hitbox proxy --help``: which options this version has."""
    hitbox = Path(sys.executable).with_name("hitbox")
    shown = subprocess.run(
        [str(hitbox), "proxy", "--help"], capture_output=True, text=True, check=False
    )
    return shown.stdout


def measure(rounds: int, seconds: float) -> dict[str, list[float]]:
    hitbox = str(Path(sys.executable).with_name("hitbox"))
    origin_port, floor_port, nginx_port = free_port(), free_port(), free_port()
    proxies: dict[str, tuple[int, list[str]]] = {HITBOX: (free_port(), [])}
    options = hitbox_proxy_options()
    if "--workers" in options:
        proxies[HITBOX_2] = (free_port(), ["--workers", "2"])
        proxies["hitbox proxy, 2 workers, one SQLite file"] = (
            free_port(),
            ["--workers", "2", "--config", "{sqlite}"],
        )
        # The production setup: each worker's L1 hits answered in place, L2 shared.
        proxies["hitbox proxy, 2 workers, tiered memory + one SQLite file"] = (
            free_port(),
            ["--workers", "2", "--config", "{tiered}"],
        )
    if "fast" in options:
        # The pure-Python fallback (uvicorn's h11 server), the default before `fast`.
        proxies["hitbox proxy, 1 worker, --http h11"] = (free_port(), ["--http", "h11"])
    response = ORIGIN_HEAD + BODY
    with contextlib.ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        origin_code = FLOOR_SERVER.format(response=response, port=origin_port)
        stack.enter_context(process([sys.executable, "-c", origin_code]))
        floor_code = FLOOR_SERVER.format(response=response, port=floor_port)
        stack.enter_context(process([sys.executable, "-c", floor_code]))
        config = nginx_config(directory, nginx_port, origin_port)
        stack.enter_context(process(["nginx", "-c", str(config), "-p", str(directory)]))
        upstream = f"http://127.0.0.1:{origin_port}"
        sqlite = directory / "hitbox.toml"
        sqlite.write_text(f'[hitbox.backend]\nname = "sqlite"\npath = "{directory / "c.db"}"\n')
        tiered = directory / "tiered.toml"
        tiered.write_text(  # as docs/backends/tiered.md configures it (no bus: max_l1_ttl)
            '[hitbox.backend]\nname = "tiered"\nmax_l1_ttl = 5\ntiers = [{name = "memory"}, '
            f'{{name = "sqlite", path = "{directory / "t.db"}"}}]\n'
        )
        configs = {"{sqlite}": str(sqlite), "{tiered}": str(tiered)}
        for port, extra in proxies.values():
            args = [hitbox, "proxy", "--upstream", upstream, "--listen", f"127.0.0.1:{port}"]
            extra = [configs.get(arg, arg) for arg in extra]
            stack.enter_context(process([*args, *extra]))
        urls = {
            FLOOR: f"http://127.0.0.1:{floor_port}/page",
            "nginx proxy_cache, 1 worker": f"http://127.0.0.1:{nginx_port}/page",
            **{name: f"http://127.0.0.1:{port}/page" for name, (port, _) in proxies.items()},
        }
        for url in urls.values():
            wait_ready(url)
            # Then hits (with workers, each worker's memory backend fills on its own).
            for _ in range(4):
                wait_ready(url)
        samples: dict[str, list[float]] = {name: [] for name in urls}
        for _ in range(rounds):
            for name, url in urls.items():
                samples[name].append(wrk(url, seconds))
        return samples


def collect(quick: bool) -> dict[str, Any]:
    """The benchmark report's entry point (see ``benchmarks/report/protocol.py``)."""
    problem = ensure_tools()
    if problem is not None:
        raise RuntimeError(f"bench_proxy needs nginx and wrk: {problem}")
    rounds, seconds = (3, 2.0) if quick else (5, 5.0)
    samples = measure(rounds, seconds)
    rows: list[list[Any]] = [
        [name, statistics.median(values), max(values)] for name, values in samples.items()
    ]
    return validate(  # type: ignore[return-value]
        {
            "title": "Caching reverse proxy: hitbox proxy against nginx proxy_cache",
            "description": (
                "The same origin and 1 KiB response (`max-age=600`) behind each proxy; "
                f"after a warm-up every request is a hit. wrk, 1 thread, {CONNECTIONS} "
                "keep-alive connections, in its own process; rounds interleaved, the "
                "median round counts. The floor is a bare asyncio server answering from "
                "memory."
            ),
            "parameters": {"rounds": rounds, "seconds": seconds, "connections": CONNECTIONS},
            "tables": [
                {
                    "id": "hits",
                    "title": "Cache hits through a reverse proxy, requests per second",
                    "columns": ["contender", "median req/s", "best req/s"],
                    "rows": rows,
                    "metric": {"column": "median req/s", "better": "higher"},
                    "baseline": NGINX,
                    "hitbox_row": HITBOX,
                    "peers": [NGINX],
                    "notes": ["Target: hitbox proxy (1 worker) at least 0.5x nginx (1 worker)."],
                }
            ],
        }
    )


def main(rounds: int, seconds: float) -> None:
    problem = ensure_tools()
    if problem is not None:
        print(f"skipping: {problem}")
        return
    samples = measure(rounds, seconds)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"\ncache hits, requests/s (median of {rounds} rounds of {seconds:.0f} s)\n")
    for name, median in medians.items():
        print(f"  {name:<58} {median:>10,.0f}   {median / medians[NGINX]:.2f}x nginx")
    print(f"\nhitbox / nginx (1 worker each): {medians[HITBOX] / medians[NGINX]:.2f}x (>= 0.5)")
    if HITBOX_2 in medians:
        print(f"hitbox 2 workers / nginx 1 worker: {medians[HITBOX_2] / medians[NGINX]:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 2 s")
    args = parser.parse_args()
    rounds, seconds = (3, 2.0) if args.quick else (args.rounds, args.seconds)
    main(rounds, seconds)
