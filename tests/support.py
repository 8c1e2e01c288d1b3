"""Helpers shared by the test suite: free ports, waiting for servers, service gating.

A service that cannot be started is a skip with the reason on a developer laptop and a
failure in CI (``HITBOX_REQUIRE_SERVICES=1``), so CI never passes by skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from typing import NoReturn

import pytest

REQUIRE_SERVICES = os.environ.get("HITBOX_REQUIRE_SERVICES", "") not in ("", "0", "false")


def service_unavailable(reason: str) -> NoReturn:
    """Skip the test (laptop) or fail it (CI with ``HITBOX_REQUIRE_SERVICES=1``)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str) -> str:
    """Path of executable ``name``, or skip/fail with a reason naming it."""
    path = shutil.which(name)
    if path is None:
        service_unavailable(f"{name} is not installed")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
    """Block until something accepts connections on ``host:port`` or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")
