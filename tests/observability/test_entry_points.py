"""The ``prometheus`` and ``opentelemetry`` entry points: installed, inert until enabled.

Each check runs in a fresh interpreter: the entry points decide at discovery.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from hitbox.plugins import PluginManager


def run(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HITBOX_")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_installed_but_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HITBOX_OBSERVABILITY", raising=False)
    manager = PluginManager(disabled=())
    plugins = {info.plugin: info.distribution for info in manager.plugin_infos()}
    assert plugins["prometheus"] == "hitbox-observability"
    assert plugins["opentelemetry"] == "hitbox-observability"
    # So every cache keeps its event-free fast path.
    assert manager.has_event_listeners() is False


def test_off_by_default_imports_no_exporter_library() -> None:
    result = run(
        """
        import sys
        from hitbox.plugins import get_plugin_manager
        get_plugin_manager().plugin_infos()
        loaded = [m for m in ("prometheus_client", "opentelemetry.trace") if m in sys.modules]
        assert not loaded, loaded
        """
    )
    assert result.returncode == 0, result.stderr


def test_enabled_by_environment() -> None:
    result = run(
        """
        import asyncio
        import hitbox
        import prometheus_client
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        spans = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(spans))
        trace.set_tracer_provider(provider)  # before the instrumentation gets its tracer

        from hitbox.plugins import get_plugin_manager
        from hitbox_observability.prometheus import default_metrics

        assert get_plugin_manager().has_event_listeners()
        cache = hitbox.Cache("memory")
        default_metrics().watch(cache, name="main")

        @cache.cached
        async def double(x: int) -> int:
            return 2 * x

        async def main() -> None:
            assert await double(2) == 4
            assert await double(2) == 4

        asyncio.run(main())
        get = prometheus_client.REGISTRY.get_sample_value
        labels = {"backend": "memory", "operation": "cached"}  # configured by name
        assert get("hitbox_cache_requests_total", {**labels, "outcome": "hit"}) == 1
        assert get("hitbox_cache_stats_hits_total", {"cache": "main"}) == 1
        assert [s.name for s in spans.get_finished_spans()] == ["hitbox cached"] * 2
        """,
        HITBOX_OBSERVABILITY="prometheus, opentelemetry",
    )
    assert result.returncode == 0, result.stderr


def test_an_unknown_exporter_is_a_clear_error() -> None:
    result = run(
        "from hitbox.plugins import get_plugin_manager; get_plugin_manager()",
        HITBOX_OBSERVABILITY="statsd",
    )
    assert result.returncode != 0
    assert "HITBOX_OBSERVABILITY='statsd': unknown exporter 'statsd'" in result.stderr
    assert "HITBOX_DISABLE_PLUGINS=" in result.stderr
