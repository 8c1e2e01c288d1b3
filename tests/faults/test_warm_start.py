"""Warm starts: a cold process's first calls are ordinary misses that store their results.

Each case runs :mod:`tests.faults._cold_start` in a fresh Python process (nothing warm:
no AWS session, no connection, no SQLite schema) against a real server started here,
with the cache's default settings: three keys called twice must cost exactly three
upstream calls -- inside ``async with cache:``, after ``await cache.open()``, and with
neither (the first call opens the backend, outside the per-call ``backend_timeout``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dynamodb.conftest import REGION, TABLE, _setup_table
from tests.dynamodb.servers import (
    FAKE_AWS_ENV,
    EmulatorUnavailableError,
    dynalite_server,
    moto_server,
)
from tests.memcached.conftest import start_memcached
from tests.redis_servers import RedisServer, redis_binaries
from tests.support import service_unavailable

ROOT = Path(__file__).resolve().parents[2]
MODES = ("with", "open", "lazy")


def _cold_run(url: str, mode: str) -> dict[str, object]:
    env = {**os.environ, **FAKE_AWS_ENV}
    env.pop("AWS_PROFILE", None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.faults._cold_start", url, mode],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _check(url: str, mode: str) -> None:
    result = _cold_run(url, mode)
    assert result["right"] is True
    assert result["upstream_calls"] == 3, result
    assert result["hits"] == 3, result
    if mode == "open":
        assert result["opened"] is True, result


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private standalone Redis server."""
    if redis_binaries() is None:
        service_unavailable("redis-server / redis-cli are not installed")
    server = RedisServer.start(tmp_path_factory.mktemp("redis-warm"))
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def memcached_url() -> Iterator[str]:
    """A private memcached server."""
    server = start_memcached()
    yield f"memcached://{server.address}"
    server.kill()


def _dynamodb_url(endpoint: str) -> str:
    return f"dynamodb://{TABLE}?endpoint_url={endpoint}&region={REGION}"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto server (ThreadedMotoServer) with the cache table."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS_ENV.items():
            patch.setenv(name, value)
        try:
            with moto_server() as endpoint:
                _setup_table(endpoint)
                yield _dynamodb_url(endpoint)
        except EmulatorUnavailableError as exc:
            service_unavailable(str(exc))


@pytest.fixture(scope="module")
def dynalite_url() -> Iterator[str]:
    """A dynalite server with the cache table."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS_ENV.items():
            patch.setenv(name, value)
        try:
            with dynalite_server() as endpoint:
                _setup_table(endpoint)
                yield _dynamodb_url(endpoint)
        except EmulatorUnavailableError as exc:
            service_unavailable(str(exc))


@pytest.mark.parametrize("mode", MODES)
def test_redis_cold_start_stores_its_first_results(redis_url: str, mode: str) -> None:
    _check(redis_url, mode)


@pytest.mark.parametrize("mode", MODES)
def test_memcached_cold_start_stores_its_first_results(memcached_url: str, mode: str) -> None:
    _check(memcached_url, mode)


@pytest.mark.parametrize("mode", MODES)
def test_moto_cold_start_stores_its_first_results(moto_url: str, mode: str) -> None:
    _check(moto_url, mode)


@pytest.mark.parametrize("mode", MODES)
def test_dynalite_cold_start_stores_its_first_results(dynalite_url: str, mode: str) -> None:
    _check(dynalite_url, mode)


@pytest.mark.parametrize("mode", MODES)
def test_sqlite_cold_start_stores_its_first_results(tmp_path: Path, mode: str) -> None:
    _check(f"sqlite:///{tmp_path / 'cold.db'}", mode)
