"""Each distribution imports in isolation, with only its own declared dependencies."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

DISTRIBUTIONS = {
    # The meta-distribution: the core and the embedded default backend, nothing else.
    "hitbox": "hitbox, hitbox.cli, hitbox_memory, hitbox_memory.plugin",
    "hitbox-core": "hitbox, hitbox.cli, hitbox.testing",
    "hitbox-backend-memory": "hitbox_memory, hitbox_memory.plugin",
    "hitbox-backend-redis": "hitbox_redis, hitbox_redis.plugin",
    "hitbox-backend-dynamodb": "hitbox_dynamodb, hitbox_dynamodb.plugin",
    "hitbox-backend-sqlite": "hitbox_sqlite, hitbox_sqlite.plugin",
    "hitbox-backend-memcached": "hitbox_memcached, hitbox_memcached.plugin",
    # Without the [proxy] extra: the proxy's command module loads uvicorn only when run.
    "hitbox-http": "hitbox_http, hitbox_http.plugin, hitbox_http._cli",
    "hitbox-observability": (
        "hitbox_observability, hitbox_observability.plugin, "
        "hitbox_observability.prometheus, hitbox_observability.opentelemetry"
    ),
}

# Extras a distribution needs for the modules listed above.
EXTRAS = {
    "hitbox-core": ("testing",),
    "hitbox-observability": ("prometheus", "opentelemetry"),
}


@pytest.mark.slow
@pytest.mark.parametrize(("distribution", "modules"), sorted(DISTRIBUTIONS.items()))
def test_distribution_imports_in_isolation(distribution: str, modules: str) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    extra = [arg for name in EXTRAS.get(distribution, ()) for arg in ("--extra", name)]
    result = subprocess.run(
        [
            uv,
            "run",
            "--isolated",
            "--frozen",
            "--no-dev",
            *extra,
            "--package",
            distribution,
            "python",
            "-c",
            f"import {modules}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_workspace_member_is_checked() -> None:
    import tomllib

    members = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"][
        "members"
    ]
    names = [
        tomllib.loads((ROOT / member / "pyproject.toml").read_text())["project"]["name"]
        for member in members
    ]
    assert sorted(names) == sorted(DISTRIBUTIONS)
