"""Events a backend notices outside a cache run (an oversized value it refused, ...).

A backend calls :func:`emit_backend_event`; plugins observe through the
``hitbox_backend_event(event)`` hook (metrics, alerts). Emitting is off the hot path by
nature — it happens when something unusual occurs — and costs one registry check when
nobody listens. A listener that raises is logged (rate-limited) and never reaches the
backend, so a broken metrics plugin cannot break a write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import final

from hitbox._logging import RateLimitedLogger
from hitbox.plugins import PluginManager, get_plugin_manager

__all__ = ["BackendEvent", "emit_backend_event"]

_log = RateLimitedLogger("hitbox.backend_events")


@final
@dataclass(frozen=True, slots=True)
class BackendEvent:
    """Something a backend noticed: ``kind`` (e.g. ``"oversized"``), where, and details.

    ``detail`` holds kind-specific facts, e.g. ``{"size": 512000, "limit": 409600}``.
    """

    kind: str
    backend: str
    key: str
    detail: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))


def emit_backend_event(
    kind: str, backend: str, key: str, *, plugins: PluginManager | None = None, **detail: object
) -> None:
    """Report ``kind`` for ``key`` to every ``hitbox_backend_event`` listener; never raises.

    Listeners are those of ``plugins``, by default the process-wide plugin manager
    (:func:`hitbox.plugins.get_plugin_manager`). A backend calls
    :meth:`hitbox.Backend.emit_event` instead, which reports to its owning cache's plugins.
    """
    try:
        manager = plugins if plugins is not None else get_plugin_manager()
        hook = manager.hook.hitbox_backend_event
        if not hook.get_hookimpls():
            return
        hook(event=BackendEvent(kind, backend, key, MappingProxyType(dict(detail))))
    except Exception as exc:  # a listener's failure must never break the backend
        _log.warning("listener", "hitbox_backend_event listener failed: %r", exc)
