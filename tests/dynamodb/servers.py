"""Local DynamoDB emulators for tests and benchmarks: moto and dynalite on free ports.

Both are context managers yielding the endpoint URL and stopping the server on exit;
:class:`EmulatorUnavailableError` says why one cannot be started (the caller decides whether
that is a skip or a failure). dynalite comes from npm into ``tests/dynamodb/.node``
(gitignored), see :data:`DYNALITE_INSTALL`; ``HITBOX_DYNALITE`` may name another
executable.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.support import free_port, wait_for_port

DYNALITE_DIR = Path(__file__).parent / ".node"
DYNALITE_INSTALL = (
    "npm install --no-save --no-audit --no-fund --prefix tests/dynamodb/.node dynalite@4"
)

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
"""Fake credentials (and no credential probing) for talking to an emulator."""


class EmulatorUnavailableError(RuntimeError):
    """An emulator could not be started; the message says why and how to fix it."""


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server (``ThreadedMotoServer``) on a free loopback port."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise EmulatorUnavailableError(f"moto[server] is not installed: {exc}") from exc
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def dynalite_binary() -> str:
    """The dynalite executable to run, or :class:`EmulatorUnavailableError` naming the fix."""
    configured = os.environ.get("HITBOX_DYNALITE")
    if configured:
        if shutil.which(configured) is None:
            raise EmulatorUnavailableError(f"HITBOX_DYNALITE={configured!r} is not executable")
        return configured
    if shutil.which("node") is None:
        raise EmulatorUnavailableError("node is not installed (needed for dynalite)")
    local = DYNALITE_DIR / "node_modules" / ".bin" / "dynalite"
    if local.exists():
        return str(local)
    found = shutil.which("dynalite")
    if found is None:
        raise EmulatorUnavailableError(f"dynalite is not installed; run: {DYNALITE_INSTALL}")
    return found


@contextlib.contextmanager
def dynalite_server() -> Iterator[str]:
    """An in-memory dynalite server (no TTL API) on a free loopback port."""
    binary = dynalite_binary()
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="hitbox-dynalite-") as workdir:
        process = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "--port", str(port), "--createTableMs", "20"],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            try:
                wait_for_port(port, timeout=15)
            except TimeoutError:
                process.kill()
                _, err = process.communicate(timeout=5)
                raise EmulatorUnavailableError(
                    f"dynalite did not start: {err.decode(errors='replace')}"
                ) from None
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stderr is not None:
                process.stderr.close()
