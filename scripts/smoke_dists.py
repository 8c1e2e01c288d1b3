"""Smoke test of an installed set of built wheels (run by ``scripts/check-dists``).

Runs with the fresh virtual environment's Python, outside the workspace:
``python smoke_dists.py DIST_DIR REDIS_URL``. Checks that every Hitbox distribution in the
environment is the very wheel built into DIST_DIR (same RECORD), that hitbox-http is not
installed, and that a Redis cache selected by URL stores and serves a value.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import sys
import zipfile
from pathlib import Path


def check_installed_from(dist_dir: Path) -> list[str]:
    """The Hitbox distributions installed, each checked against its built wheel."""
    found = []
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if not name.startswith("hitbox"):
            continue
        wheel = dist_dir / f"{name.replace('-', '_')}-{dist.version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel) as archive:
            record = archive.read(f"{name.replace('-', '_')}-{dist.version}.dist-info/RECORD")
        installed = dist.read_text("RECORD") or ""
        # The installer may append its own files (INSTALLER, REQUESTED...): compare the
        # wheel's lines only.
        missing = set(record.decode().splitlines()) - set(installed.splitlines())
        assert not missing, f"{name} is not the wheel built into {dist_dir}: {sorted(missing)}"
        found.append(name)
    return sorted(found)


async def round_trip(url: str) -> None:
    """Store and read back through a cache selected by ``url``."""
    import hitbox

    cache = hitbox.Cache.from_url(url, namespace="smoke", policy={"ttl": 60})
    calls = 0

    @cache.cached(key="answer:{n}")
    async def answer(n: int) -> dict[str, int]:
        nonlocal calls
        calls += 1
        return {"n": n}

    async with cache:
        assert cache.backend.label == "redis", cache.backend.label
        assert await answer(7) == {"n": 7}
        assert await answer(7) == {"n": 7}
        assert calls == 1, f"upstream called {calls} times"
        assert await cache.set("greeting", "hello")
        assert await cache.get("greeting") == "hello"
        stats = cache.stats()
        assert stats.hits >= 2, stats
        assert stats.errors == 0, stats


def main(dist_dir: Path, redis_url: str) -> None:
    """Run every check; an AssertionError fails the script."""
    installed = check_installed_from(dist_dir)
    assert "hitbox-http" not in installed, installed
    assert importlib.util.find_spec("hitbox_http") is None
    assert "hitbox-backend-redis" in installed, installed
    asyncio.run(round_trip(redis_url))
    print(f"smoke: {', '.join(installed)} from the built wheels; Redis round trip ok")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
