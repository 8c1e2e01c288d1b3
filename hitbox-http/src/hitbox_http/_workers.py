"""``hitbox proxy --workers N``: one proxy per worker process, all on one listening socket.

uvicorn's supervisor starts the workers with ``spawn``, so each builds its own proxy from
an import string: :func:`worker_app` reads the command line's settings from the
environment variable the parent sets (:func:`settings_to_environment`). The workers share
whatever the ``--config`` backend shares: with SQLite or Redis one stored response serves
every worker; the in-process memory backend is per worker (each fills its own).
"""

from __future__ import annotations

import json
import os
from typing import Any, Final

__all__ = ["ENVIRONMENT_VARIABLE", "settings_to_environment", "worker_app"]

ENVIRONMENT_VARIABLE: Final = "HITBOX_PROXY_WORKER_SETTINGS"
"""Where the parent leaves the settings for its workers (spawned processes inherit it)."""


def settings_to_environment(
    upstream: str, config: str | None, timeout: float, trusted_proxies: tuple[str, ...]
) -> None:
    """Leave the proxy's settings where :func:`worker_app` finds them."""
    os.environ[ENVIRONMENT_VARIABLE] = json.dumps(
        {
            "upstream": upstream,
            # Workers may start in another directory: the file by its absolute path.
            "config": None if config is None else os.path.abspath(config),
            "timeout": timeout,
            "trusted_proxies": list(trusted_proxies),
        }
    )


def worker_app() -> Any:
    """The proxy app of one worker (uvicorn's ``factory``), built as the parent's was."""
    from hitbox_http._cli import build_proxy
    from hitbox_http._proxy_run import allow_any_status

    settings = json.loads(os.environ[ENVIRONMENT_VARIABLE])
    allow_any_status()  # the status tables live in this process too
    return build_proxy(
        settings["upstream"],
        settings["config"],
        timeout=settings["timeout"],
        trusted_proxies=tuple(settings["trusted_proxies"]),
    )
