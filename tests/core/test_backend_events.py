"""Backend events: emitted to listeners, free without them, never raising into a backend."""

from __future__ import annotations

import logging

import hitbox
import pytest
from hitbox.plugins import PluginManager, reset_plugin_manager

from tests.support import BackendEventRecorder, backend_events  # noqa: F401 - fixture


def test_listener_receives_the_event(backend_events: BackendEventRecorder) -> None:  # noqa: F811
    hitbox.emit_backend_event("oversized", "sqlite", "user:1", size=2041, limit=1000)
    (event,) = backend_events.events
    assert isinstance(event, hitbox.BackendEvent)
    assert (event.kind, event.backend, event.key) == ("oversized", "sqlite", "user:1")
    assert dict(event.detail) == {"size": 2041, "limit": 1000}


def test_no_listener_is_a_no_op() -> None:
    reset_plugin_manager(PluginManager(load_entry_points=False))
    try:
        hitbox.emit_backend_event("oversized", "sqlite", "k")
    finally:
        reset_plugin_manager(None)


def test_a_raising_listener_never_reaches_the_backend(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        @hitbox.hookimpl
        def hitbox_backend_event(self, event: object) -> None:
            raise RuntimeError("metrics exporter is down")

    manager = PluginManager(load_entry_points=False)
    manager.register(Broken(), "broken")
    reset_plugin_manager(manager)
    try:
        with caplog.at_level(logging.WARNING, logger="hitbox.backend_events"):
            hitbox.emit_backend_event("oversized", "memcached", "k")
    finally:
        reset_plugin_manager(None)
    assert "metrics exporter is down" in caplog.text
