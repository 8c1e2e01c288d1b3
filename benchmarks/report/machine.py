"""What the benchmarks ran on: CPU, cores, memory, load, Python, package and server versions.

Numbers from a benchmark mean little without the machine beside them, and on a shared
machine the load average says how much to trust them.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["PACKAGES", "describe", "git_state", "load_average"]

PACKAGES = (
    "hitbox-core",
    "hitbox-backend-memory",
    "hitbox-backend-redis",
    "hitbox-backend-memcached",
    "hitbox-backend-sqlite",
    "hitbox-backend-dynamodb",
    "hitbox-http",
    "hitbox-observability",
    "aiocache",
    "cashews",
    "cachetools",
    "dogpile.cache",
    "hishel",
    "fastapi-cache2",
    "redis",
    "diskcache",
    "aiomcache",
    "emcache",
    "pymemcache",
    "aiobotocore",
    "moto",
    "starlette",
    "fastapi",
    "matplotlib",
)
"""Distributions whose versions the report records: Hitbox's own, then its peers'."""

SERVERS = {
    "redis-server": ["redis-server", "--version"],
    "memcached": ["memcached", "-V"],
    "node (dynalite)": ["node", "--version"],
}


def _first_line(command: list[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
        text = (done.stdout or done.stderr).strip()
        # The first words say it all ("Redis server v=7.0.15 sha=... malloc=... bits=...").
        return " ".join(text.split()[:3]) if done.returncode == 0 and text else None
    return None


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    return None


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (empty where the OS has none)."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def git_state(root: Path) -> dict[str, Any]:
    """The checked-out commit and whether tracked files differed from it."""
    commit = _first_line(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"])
    status = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
    return {"commit": commit, "dirty": bool(status and status.strip())}


def describe() -> dict[str, Any]:
    """Everything above as JSON-ready data."""
    usable: int | None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": {name: _version(name) for name in PACKAGES},
        "servers": {name: _first_line(command) for name, command in SERVERS.items()},
    }
