"""Helpers shared by the test suite: free ports, waiting for servers, service gating.

A service that cannot be started is a skip with the reason on a developer laptop and a
failure in CI (``HITBOX_REQUIRE_SERVICES=1``), so CI never passes by skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Iterator
from typing import NoReturn

import pytest
from hitbox import hookimpl

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


class BackendEventRecorder:
    """A plugin that records ``hitbox_backend_event`` events (see :func:`record_backend_events`)."""

    def __init__(self) -> None:
        self.events: list[object] = []

    @hookimpl
    def hitbox_backend_event(self, event: object) -> None:
        self.events.append(event)

    def kinds(self) -> list[tuple[str, str, str]]:
        """``(kind, backend, key)`` of every event recorded."""
        return [(e.kind, e.backend, e.key) for e in self.events]  # type: ignore[attr-defined]


@pytest.fixture
def backend_events() -> Iterator[BackendEventRecorder]:
    """Installs a process-wide plugin manager whose only extra plugin records backend events."""
    from hitbox.plugins import PluginManager, reset_plugin_manager

    recorder = BackendEventRecorder()
    manager = PluginManager()
    manager.register(recorder, "backend-event-recorder")
    reset_plugin_manager(manager)
    try:
        yield recorder
    finally:
        reset_plugin_manager(None)
