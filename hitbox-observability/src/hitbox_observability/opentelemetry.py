"""OpenTelemetry spans and metrics for Hitbox caches (needs the ``opentelemetry`` extra).

:class:`OpenTelemetryInstrumentation` listens on the ``hitbox_cache_event`` hook: every
cache run becomes one span (``hitbox fetch``, ``hitbox cached``, ``hitbox get``,
``hitbox refresh``) whose attributes carry the run's state path, outcome, backend, key
and errors, and feeds three instruments:

* ``hitbox.cache.errors`` (counter, ``{error}``): by backend, operation and source
  (``backend``: the upstream answered instead; ``upstream``: the upstream raised);
* ``hitbox.cache.duration`` (histogram, ``s``): by backend, operation and outcome; its
  count is the number of runs;
* ``hitbox.cache.upstream.duration`` (histogram, ``s``): by backend and operation.

Events arrive when a run has finished, so the span is created then with the run's real
start and end times; its parent is the span current in the task that ran the cache
operation (for a background refresh: the request that triggered it). Spans the upstream
itself creates are therefore the cache span's siblings, not its children.

Only ``opentelemetry-api`` is needed; the application chooses the SDK and exporters.
Without an SDK every call is a no-op.
"""

from __future__ import annotations

import threading
import time
from typing import Final, Self, final

import hitbox
from hitbox import CacheEvent, State, hookimpl
from hitbox.plugins import PluginManager, get_plugin_manager
from opentelemetry import metrics, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.util.types import Attributes

from hitbox_observability._guard import FailureGuard

__all__ = ["INSTRUMENTATION_NAME", "OpenTelemetryInstrumentation", "default_instrumentation"]

INSTRUMENTATION_NAME: Final = "hitbox"
"""The tracer and meter name (the instrumentation scope)."""

_MAX_PLANS: Final = 1024


@final
class _Plan:
    """What never changes between runs of one kind (backend, operation, path)."""

    __slots__ = (
        "backend_errors",
        "failed_answer",
        "metric_attributes",
        "name",
        "span_attributes",
        "upstream_attributes",
        "upstream_errors",
    )

    def __init__(self, event: CacheEvent) -> None:
        path = event.path
        finished = bool(path) and path[-1] is State.RESPONSE
        outcome = event.outcome.value if finished else "cancelled"
        self.name = f"hitbox {event.operation}"
        base = {"hitbox.backend": event.backend, "hitbox.operation": event.operation}
        self.metric_attributes: Attributes = {**base, "hitbox.outcome": outcome}
        self.upstream_attributes: Attributes = base
        self.backend_errors: Attributes = {**base, "hitbox.error.source": "backend"}
        self.upstream_errors: Attributes = {**base, "hitbox.error.source": "upstream"}
        self.span_attributes: Attributes = {
            **base,
            "hitbox.outcome": outcome,
            "hitbox.path": tuple(state.name for state in path),
            "hitbox.lock_waited": State.LOCKED in path,
        }
        # An upstream error reached the caller unless a stale entry answered instead.
        self.failed_answer = outcome != State.STALE.value


@final
class OpenTelemetryInstrumentation:
    """Traces and measures every cache run through the OpenTelemetry API.

    ``tracer_provider`` and ``meter_provider`` default to the global ones. With
    ``record_keys=False`` spans leave out the cache key (keys can carry identifiers you
    may not want in traces). Register it with :meth:`install`.
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        record_keys: bool = True,
    ) -> None:
        version = hitbox.__version__
        self.tracer = trace.get_tracer(
            INSTRUMENTATION_NAME, version, tracer_provider=tracer_provider
        )
        meter = metrics.get_meter(INSTRUMENTATION_NAME, version, meter_provider=meter_provider)
        self.errors = meter.create_counter(
            "hitbox.cache.errors",
            unit="{error}",
            description="Runs that met a backend error (the upstream answered) or an "
            "upstream error.",
        )
        # Its count is the number of runs: no separate counter (each instrument update
        # costs the SDK an attribute hash).
        self.duration = meter.create_histogram(
            "hitbox.cache.duration",
            unit="s",
            description="Wall time of a cache run, upstream call and lock waits included; "
            "its count is the number of runs, by outcome.",
        )
        self.upstream_duration = meter.create_histogram(
            "hitbox.cache.upstream.duration",
            unit="s",
            description="Wall time of the upstream calls made by cache runs.",
        )
        self.record_keys = record_keys
        self.guard = FailureGuard("opentelemetry")
        self._plans: dict[tuple[str, str, tuple[State, ...]], _Plan] = {}

    def install(
        self, manager: PluginManager | None = None, name: str = "opentelemetry-instrumentation"
    ) -> Self:
        """Register as a plugin in ``manager`` (the process-wide one by default).

        A cache decides at construction whether anyone listens to its events: install
        before building the caches to observe.
        """
        (manager if manager is not None else get_plugin_manager()).register(self, name)
        return self

    @hookimpl
    def hitbox_cache_event(self, event: CacheEvent) -> None:
        """Record one cache run as a span and in the instruments. Never raises."""
        try:
            self._record(event)
        except Exception as exc:
            self.guard.failed("recording a cache event", exc)

    def _record(self, event: CacheEvent) -> None:
        signature = (event.backend, event.operation, event.path)
        plan = self._plans.get(signature)
        if plan is None:
            plan = _Plan(event)
            if len(self._plans) < _MAX_PLANS:
                self._plans[signature] = plan
        duration = event.duration
        upstream = event.upstream_duration
        self.duration.record(duration, plan.metric_attributes)
        if upstream is not None:
            self.upstream_duration.record(upstream, plan.upstream_attributes)
        if event.error is not None:
            self.errors.add(1, plan.backend_errors)
        if event.upstream_error is not None:
            self.errors.add(1, plan.upstream_errors)

        end = time.time_ns()
        span = self.tracer.start_span(
            plan.name,
            kind=SpanKind.INTERNAL,
            attributes=plan.span_attributes,
            start_time=end - int(duration * 1e9),
        )
        if span.is_recording():
            if self.record_keys:
                span.set_attribute("hitbox.key", event.key)
            if upstream is not None:
                span.set_attribute("hitbox.upstream.duration", upstream)
            if event.error is not None:
                span.set_attribute("hitbox.error", event.error)
            if event.upstream_error is not None:
                span.set_attribute("hitbox.upstream.error", event.upstream_error)
                if plan.failed_answer:
                    span.set_status(Status(StatusCode.ERROR, event.upstream_error))
        span.end(end_time=end)


_default: OpenTelemetryInstrumentation | None = None
_default_lock = threading.Lock()


def default_instrumentation() -> OpenTelemetryInstrumentation:
    """The process-wide instrumentation on the global tracer and meter providers.

    The ``opentelemetry`` entry point installs it when ``HITBOX_OBSERVABILITY`` names it.
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = OpenTelemetryInstrumentation()
        return _default
