"""Real memcached servers for the tests, started on free loopback ports and stopped after.

The session shares three servers (``memcached_servers``); tests that kill or reconfigure
a server start their own with :func:`start_memcached`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support import free_port, require_binary, service_unavailable, wait_for_port


@dataclass
class MemcachedServer:
    """One memcached process listening on ``127.0.0.1:port``."""

    port: int
    process: subprocess.Popen[bytes]
    item_size: str

    @property
    def address(self) -> str:
        """``host:port`` as the backend takes it."""
        return f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        """Stop the server abruptly (SIGKILL), as a crash would."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)

    def restart(self) -> None:
        """Start a fresh (empty) server on the same port."""
        self.kill()
        self.process = _launch(self.port, self.item_size)
        wait_for_port(self.port)


def _launch(port: int, item_size: str) -> subprocess.Popen[bytes]:
    binary = require_binary("memcached")
    args = [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "64", "-I", item_size]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args += ["-u", "root"]  # memcached refuses to run as root without naming a user
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def start_memcached(item_size: str = "1m") -> MemcachedServer:
    """Start memcached on a free loopback port, or skip/fail the test if it cannot."""
    port = free_port()
    process = _launch(port, item_size)
    try:
        wait_for_port(port)
    except TimeoutError:
        process.kill()
        _, err = process.communicate(timeout=10)
        service_unavailable(f"memcached did not start on port {port}: {err.decode()[-300:]}")
    return MemcachedServer(port, process, item_size)


@pytest.fixture(scope="session")
def memcached_servers() -> Iterator[list[MemcachedServer]]:
    """Three memcached servers shared by the session."""
    servers: list[MemcachedServer] = []
    try:
        for _ in range(3):
            servers.append(start_memcached())
        yield servers
    finally:
        for server in servers:
            server.kill()


@pytest.fixture
def memcached_server() -> Iterator[MemcachedServer]:
    """A memcached server of this test's own (free to kill or restart)."""
    server = start_memcached()
    yield server
    server.kill()
