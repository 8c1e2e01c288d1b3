"""OpenTelemetryInstrumentation: spans seen by the SDK's in-memory exporter, metrics by
its in-memory reader."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import hitbox
import pytest
from hitbox.plugins import PluginManager
from hitbox_observability.opentelemetry import OpenTelemetryInstrumentation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from tests.observability.conftest import Gate, Request, answer, fail

MakeCache = Callable[..., hitbox.Cache]


class Telemetry:
    """An SDK tracer and meter provider, recording in memory."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def finished(self, name: str | None = None) -> list[ReadableSpan]:
        spans = self.spans.get_finished_spans()
        return [span for span in spans if name is None or span.name == name]

    def points(self, metric: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, data point) of every point of ``metric``."""
        data = self.reader.get_metrics_data()
        assert data is not None
        return [
            (dict(point.attributes or {}), point)
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for found in scope.metrics
            if found.name == metric
            for point in found.data.data_points
        ]


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry()


@pytest.fixture
def instrumentation(telemetry: Telemetry, manager: PluginManager) -> OpenTelemetryInstrumentation:
    return OpenTelemetryInstrumentation(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    ).install(manager)


async def test_one_span_per_run_with_the_state_path(
    instrumentation: OpenTelemetryInstrumentation, telemetry: Telemetry, make_cache: MakeCache
) -> None:
    cache = make_cache()
    tracer = telemetry.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("GET /users/1") as request_span:
        await cache.fetch(Request("user:1"), answer)
        await cache.fetch(Request("user:1"), answer)

    miss, hit = telemetry.finished("hitbox fetch")
    assert miss.attributes is not None
    assert hit.attributes is not None
    assert miss.attributes["hitbox.path"] == ("PENDING", "MISS", "RESPONSE")
    assert miss.attributes["hitbox.outcome"] == "miss"
    assert miss.attributes["hitbox.backend"] == "MemoryBackend"
    assert miss.attributes["hitbox.key"] == "user:1"
    assert miss.attributes["hitbox.upstream.duration"] >= 0
    assert hit.attributes["hitbox.path"] == ("PENDING", "HIT", "RESPONSE")
    assert "hitbox.upstream.duration" not in hit.attributes
    for span in (miss, hit):
        assert span.parent is not None
        assert span.parent.span_id == request_span.get_span_context().span_id
        assert span.start_time is not None
        assert span.end_time is not None
        assert 0 < span.end_time - span.start_time < 10**9
        assert span.status.status_code is StatusCode.UNSET


async def test_upstream_errors_mark_the_span_unless_stale_answered(
    instrumentation: OpenTelemetryInstrumentation,
    telemetry: Telemetry,
    make_cache: MakeCache,
    clock: hitbox.ManualClock,
) -> None:
    cache = make_cache(stale_if_error=1000)
    with pytest.raises(RuntimeError):
        await cache.fetch(Request("a"), fail)
    await cache.fetch(Request("b"), answer)
    await clock.advance(120)  # b expired, but inside stale_if_error
    assert await cache.fetch(Request("b"), fail) == "value of b"

    failed, _, rescued = telemetry.finished("hitbox fetch")
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "RuntimeError: upstream down"
    assert rescued.status.status_code is StatusCode.UNSET
    assert rescued.attributes is not None
    assert rescued.attributes["hitbox.path"] == ("PENDING", "MISS", "STALE", "RESPONSE")
    assert rescued.attributes["hitbox.upstream.error"] == "RuntimeError: upstream down"


async def test_background_refresh_is_traced_under_the_request_that_triggered_it(
    instrumentation: OpenTelemetryInstrumentation,
    telemetry: Telemetry,
    make_cache: MakeCache,
    clock: hitbox.ManualClock,
) -> None:
    cache = make_cache(max_stale=100)
    await cache.fetch(Request("k"), answer)
    await clock.advance(70)
    tracer = telemetry.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("request") as request_span:
        await cache.fetch(Request("k"), answer)
    await clock.settle()

    (refresh,) = telemetry.finished("hitbox refresh")
    assert refresh.attributes is not None
    assert refresh.attributes["hitbox.path"] == ("MISS", "RESPONSE")
    assert refresh.parent is not None
    assert refresh.parent.span_id == request_span.get_span_context().span_id


async def test_metrics_count_runs_errors_and_durations(
    instrumentation: OpenTelemetryInstrumentation,
    telemetry: Telemetry,
    make_cache: MakeCache,
) -> None:
    cache = make_cache(lock="local")
    gate = Gate()
    callers = [asyncio.create_task(cache.fetch(Request("k"), gate)) for _ in range(3)]
    for _ in range(10):
        await asyncio.sleep(0)
    gate.opened.set()
    await asyncio.gather(*callers)
    await cache.fetch(Request("k"), answer)
    with pytest.raises(RuntimeError):
        await cache.fetch(Request("x"), fail)

    errors = [
        (attributes["hitbox.error.source"], point.value)
        for attributes, point in telemetry.points("hitbox.cache.errors")
    ]
    assert errors == [("upstream", 1)]
    runs = {  # the duration histogram's count is the number of runs
        attributes["hitbox.outcome"]: point.count
        for attributes, point in telemetry.points("hitbox.cache.duration")
    }
    assert runs == {"miss": 2, "locked": 2, "hit": 1}
    ((attributes, upstream),) = telemetry.points("hitbox.cache.upstream.duration")
    assert attributes == {"hitbox.backend": "MemoryBackend", "hitbox.operation": "fetch"}
    assert upstream.count == 2
    locked = [
        span
        for span in telemetry.finished("hitbox fetch")
        if span.attributes is not None and span.attributes["hitbox.lock_waited"]
    ]
    assert len(locked) == 2


async def test_keys_can_be_left_out(
    telemetry: Telemetry, manager: PluginManager, make_cache: MakeCache
) -> None:
    OpenTelemetryInstrumentation(
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        record_keys=False,
    ).install(manager)
    cache = make_cache()
    await cache.fetch(Request("user:secret"), answer)
    (span,) = telemetry.finished()
    assert span.attributes is not None
    assert "hitbox.key" not in span.attributes


async def test_a_broken_tracer_never_reaches_the_cache(
    instrumentation: OpenTelemetryInstrumentation,
    make_cache: MakeCache,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("tracer bug")

    monkeypatch.setattr(instrumentation.tracer, "start_span", broken)
    cache = make_cache()
    assert await cache.fetch(Request("k"), answer) == "value of k"
    assert await cache.fetch(Request("k"), answer) == "value of k"
    assert instrumentation.guard.failures == 2


async def test_without_an_sdk_everything_is_a_no_op(
    manager: PluginManager, make_cache: MakeCache
) -> None:
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import NoOpTracerProvider

    instrumentation = OpenTelemetryInstrumentation(
        tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider()
    ).install(manager)
    cache = make_cache()
    assert await cache.fetch(Request("k"), answer) == "value of k"
    assert instrumentation.guard.failures == 0
