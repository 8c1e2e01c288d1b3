"""PrometheusMetrics: scraped over a real prometheus-client HTTP endpoint."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Iterator

import hitbox
import hitbox.testing
import httpx
import pytest
from hitbox.plugins import PluginManager
from hitbox_observability.prometheus import PrometheusMetrics
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from tests.observability.conftest import FailingBackend, Gate, Request, answer, fail
from tests.support import free_port

MakeCache = Callable[..., hitbox.Cache]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry, manager: PluginManager) -> PrometheusMetrics:
    return PrometheusMetrics(registry).install(manager)


@pytest.fixture
def scrape(registry: CollectorRegistry) -> Iterator[Callable[[], Samples]]:
    """GET /metrics from a real prometheus-client HTTP server on loopback."""
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)

    def get() -> Samples:
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        response.raise_for_status()
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }

    yield get
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def test_hits_misses_and_latency_are_scraped(
    metrics: PrometheusMetrics, make_cache: MakeCache, scrape: Callable[[], Samples]
) -> None:
    cache = make_cache()
    metrics.watch(cache, name="users")
    for _ in range(3):
        assert await cache.fetch(Request("user:1"), answer) == "value of user:1"

    samples = scrape()
    backend = "MemoryBackend"
    requests = "hitbox_cache_requests_total"
    assert value(samples, requests, backend=backend, operation="fetch", outcome="miss") == 1
    assert value(samples, requests, backend=backend, operation="fetch", outcome="hit") == 2
    upstream = "hitbox_cache_upstream_duration_seconds_count"
    assert value(samples, upstream, backend=backend, operation="fetch") == 1
    assert (
        value(samples, "hitbox_cache_duration_seconds_count", backend=backend, outcome="hit") == 2
    )
    overhead = "hitbox_cache_overhead_seconds_count"
    assert value(samples, overhead, backend=backend, outcome="hit") == 2
    backend_time = "hitbox_cache_backend_duration_seconds"
    assert value(samples, backend_time + "_count", backend=backend, outcome="miss") == 1
    assert value(samples, backend_time + "_count", backend=backend, outcome="hit") == 2
    assert (value(samples, backend_time + "_sum", backend=backend, outcome="hit") or 0) > 0
    # Watched: the cache's own counters and state, read at scrape time.
    assert value(samples, "hitbox_cache_stats_hits_total", cache="users") == 2
    assert value(samples, "hitbox_cache_stats_misses_total", cache="users") == 1
    assert value(samples, "hitbox_cache_stats_upstream_calls_total", cache="users") == 1
    assert value(samples, "hitbox_cache_entries", cache="users") == 1
    assert value(samples, "hitbox_cache_evictions_total", cache="users") == 0
    breaker = "hitbox_cache_circuit_breaker_state"
    assert value(samples, breaker, cache="users", state="closed") == 1
    assert value(samples, breaker, cache="users", state="open") == 0


async def test_lock_waits_are_counted(
    metrics: PrometheusMetrics, make_cache: MakeCache, registry: CollectorRegistry
) -> None:
    cache = make_cache(lock="local")
    gate = Gate()
    callers = [asyncio.create_task(cache.fetch(Request("k"), gate)) for _ in range(3)]
    for _ in range(10):
        await asyncio.sleep(0)
    gate.opened.set()
    assert await asyncio.gather(*callers) == ["value of k"] * 3
    assert gate.calls == 1

    get = registry.get_sample_value
    labels = {"backend": "MemoryBackend"}
    assert get("hitbox_cache_lock_waits_total", labels) == 2
    assert (
        get("hitbox_cache_requests_total", {**labels, "operation": "fetch", "outcome": "locked"})
        == 2
    )
    # Waiting is not backend time: only the leader's run is in the overhead histogram.
    assert get("hitbox_cache_overhead_seconds_count", {**labels, "outcome": "miss"}) == 1


async def test_backend_errors_and_the_circuit_breaker(
    metrics: PrometheusMetrics,
    make_cache: MakeCache,
    scrape: Callable[[], Samples],
    clock: hitbox.ManualClock,
) -> None:
    backend = FailingBackend()
    cache = make_cache(backend, failure_threshold=2, cooldown=30)
    metrics.watch(cache, name="flaky")
    for index in range(4):  # a dead backend fails for every key: the breaker opens
        assert await cache.fetch(Request(f"k{index}"), answer) == f"value of k{index}"

    samples = scrape()
    assert (
        value(samples, "hitbox_cache_errors_total", backend="FailingBackend", source="backend") == 4
    )
    assert (
        value(
            samples,
            "hitbox_cache_requests_total",
            backend="FailingBackend",
            operation="fetch",
            outcome="error",
        )
        == 4
    )
    assert value(samples, "hitbox_cache_circuit_breaker_state", cache="flaky", state="open") == 1
    assert value(samples, "hitbox_cache_stats_skipped_total", cache="flaky") > 0
    # A remote-style backend has no size to export.
    assert value(samples, "hitbox_cache_entries", cache="flaky") is None

    await clock.advance(31)
    samples = scrape()
    assert (
        value(samples, "hitbox_cache_circuit_breaker_state", cache="flaky", state="half-open") == 1
    )


async def test_upstream_errors_and_stale_answers(
    metrics: PrometheusMetrics,
    make_cache: MakeCache,
    registry: CollectorRegistry,
    clock: hitbox.ManualClock,
) -> None:
    cache = make_cache(max_stale=100, stale_if_error=1000)
    with pytest.raises(RuntimeError):
        await cache.fetch(Request("a"), fail)
    await cache.fetch(Request("b"), answer)
    await clock.advance(70)  # b is stale now: served, refreshed in the background
    assert await cache.fetch(Request("b"), answer) == "value of b"
    await clock.settle()

    get = registry.get_sample_value
    base = {"backend": "MemoryBackend"}
    assert get("hitbox_cache_errors_total", {**base, "source": "upstream"}) == 1
    assert (
        get("hitbox_cache_requests_total", {**base, "operation": "fetch", "outcome": "stale"}) == 1
    )
    assert (
        get("hitbox_cache_requests_total", {**base, "operation": "refresh", "outcome": "miss"}) == 1
    )
    assert (
        get("hitbox_cache_upstream_duration_seconds_count", {**base, "operation": "refresh"}) == 1
    )


async def test_label_children_are_resolved_once(
    metrics: PrometheusMetrics, make_cache: MakeCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = make_cache()
    await cache.fetch(Request("k"), answer)
    await cache.fetch(Request("k"), answer)  # first hit: resolves the hit path's children
    resolved: list[tuple[str, ...]] = []
    original = metrics.requests.labels

    def counting(*labels: str) -> object:
        resolved.append(labels)
        return original(*labels)

    monkeypatch.setattr(metrics.requests, "labels", counting)
    for _ in range(50):
        await cache.fetch(Request("k"), answer)
    assert resolved == []
    assert metrics.requests.labels("MemoryBackend", "fetch", "hit")._value.get() == 51


async def test_a_broken_exporter_never_reaches_the_cache(
    metrics: PrometheusMetrics,
    make_cache: MakeCache,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*labels: str) -> object:
        raise RuntimeError("metrics library bug")

    monkeypatch.setattr(metrics.requests, "labels", broken)
    cache = make_cache()
    with caplog.at_level(logging.WARNING, logger="hitbox_observability"):
        for index in range(5):
            assert await cache.fetch(Request(f"k{index}"), answer) == f"value of k{index}"
    assert metrics.guard.failures == 5
    warnings = [r for r in caplog.records if r.name == "hitbox_observability"]
    assert len(warnings) == 1  # rate-limited
    assert "metrics library bug" in warnings[0].getMessage()
    assert cache.stats().upstream_calls == 5


async def test_watch_names_and_weak_references(
    metrics: PrometheusMetrics, make_cache: MakeCache, registry: CollectorRegistry
) -> None:
    first, second = make_cache(), make_cache()
    assert metrics.watch(first) == "MemoryBackend"
    assert metrics.watch(second) == "MemoryBackend-2"
    with pytest.raises(ValueError, match="already watched"):
        metrics.watch(first, name="other")
    third = make_cache()
    with pytest.raises(ValueError, match="'MemoryBackend' is already taken"):
        metrics.watch(third, name="MemoryBackend")

    del second
    gc.collect()
    assert [name for name, _ in metrics.watched()] == ["MemoryBackend"]
    assert (
        registry.get_sample_value("hitbox_cache_stats_hits_total", {"cache": "MemoryBackend-2"})
        is None
    )
    metrics.unwatch(first)
    assert metrics.watched() == []


def test_two_exporters_need_two_registries(registry: CollectorRegistry) -> None:
    PrometheusMetrics(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        PrometheusMetrics(registry)
    PrometheusMetrics(registry, namespace="shop")  # another namespace is fine


async def test_a_cancelled_run_is_counted_as_cancelled(
    metrics: PrometheusMetrics, make_cache: MakeCache, registry: CollectorRegistry
) -> None:
    cache = make_cache()
    gate = Gate()
    caller = asyncio.create_task(cache.fetch(Request("k"), gate))
    for _ in range(5):
        await asyncio.sleep(0)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    labels = {"backend": "MemoryBackend", "operation": "fetch", "outcome": "cancelled"}
    assert registry.get_sample_value("hitbox_cache_requests_total", labels) == 1


async def test_backend_events_are_counted(
    metrics: PrometheusMetrics, manager: PluginManager, scrape: Callable[[], Samples]
) -> None:
    from hitbox.plugins import reset_plugin_manager
    from hitbox_sqlite import SQLiteBackend

    reset_plugin_manager(manager)  # backends report to the process-wide manager
    backend = SQLiteBackend(":memory:", max_bytes=1000)
    try:
        await backend.set("big", hitbox.testing.make_value(bytes(2000)), 60)
        await backend.set("big", hitbox.testing.make_value(bytes(2000)), 60)
    finally:
        await backend.aclose()
        reset_plugin_manager(None)
    samples = scrape()
    counted = value(
        samples, "hitbox_cache_backend_events_total", backend="sqlite", kind="oversized"
    )
    assert counted == 2
