"""Prometheus metrics for Hitbox caches (needs the ``prometheus`` extra).

:class:`PrometheusMetrics` feeds prometheus-client metrics from two sources:

* **Events** (after :meth:`PrometheusMetrics.install`): every cache run reports a
  :class:`hitbox.CacheEvent`; per backend label it counts runs by operation and outcome,
  lock waits, backend and upstream errors, and observes run, upstream and overhead
  latency histograms. Label children are resolved once per (backend, operation, path) and
  kept, so recording an event allocates nothing and takes no registry lock.
* **Watched caches** (:meth:`PrometheusMetrics.watch`): read at scrape time, free on the
  hot path: the cache's :class:`hitbox.Stats` counters, its circuit-breaker state, its
  background refreshes and, for in-process backends that have a size, the number of
  entries and evictions.

Example::

    metrics = PrometheusMetrics().install()        # before building the caches
    cache = hitbox.Cache("memory")
    metrics.watch(cache, name="users")
    prometheus_client.start_http_server(9464, addr="127.0.0.1")

Recording never raises into the cache: a failure is counted and logged (rate-limited).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator, Sequence, Sized
from typing import Final, Self, final

from hitbox import BackendEvent, Cache, CacheEvent, State, hookimpl
from hitbox.plugins import PluginManager, get_plugin_manager
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from hitbox_observability._guard import FailureGuard

__all__ = ["LATENCY_BUCKETS", "PrometheusMetrics", "default_metrics"]

LATENCY_BUCKETS: Final = (
    *(1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4),
    *(1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
    *(1.0, 2.5, 5.0, 10.0),
)
"""Histogram buckets from 10 µs (an in-process hit) to 10 s (a slow upstream)."""

BREAKER_STATES: Final = ("closed", "open", "half-open")

_STATS_FIELDS: Final = (
    ("hits", "Answers served from a fresh entry."),
    ("misses", "Runs that found no usable entry."),
    ("stale", "Answers served from a stale entry."),
    ("locked", "Runs that waited for another caller's refresh of the same key."),
    ("errors", "Backend operations that failed or timed out, and undecodable entries."),
    ("upstream_calls", "Calls to the upstream, background refreshes included."),
    ("refreshes", "Background refreshes of stale entries started."),
    ("skipped", "Backend operations skipped because the circuit breaker was open."),
)

_MAX_PLANS: Final = 1024

_Family = CounterMetricFamily | GaugeMetricFamily


@final
class _Plan:
    """The label children one kind of run (backend, operation, path) records into."""

    __slots__ = (
        "backend_duration",
        "backend_errors",
        "duration",
        "lock_waits",
        "overhead",
        "requests",
        "upstream",
        "upstream_errors",
    )

    def __init__(self, metrics: PrometheusMetrics, event: CacheEvent) -> None:
        backend, operation, path = event.backend, event.operation, event.path
        finished = bool(path) and path[-1] is State.RESPONSE
        outcome = event.outcome.value if finished else "cancelled"
        waited = State.LOCKED in path
        self.requests = metrics.requests.labels(backend, operation, outcome)
        self.duration = metrics.duration.labels(backend, outcome)
        self.upstream = metrics.upstream_duration.labels(backend, operation)
        self.backend_duration = metrics.backend_duration.labels(backend, outcome)
        # Lock waits are neither upstream nor backend time: such runs have no overhead.
        self.overhead = None if waited else metrics.overhead.labels(backend, outcome)
        self.lock_waits = metrics.lock_waits.labels(backend) if waited else None
        self.backend_errors = metrics.errors.labels(backend, "backend")
        self.upstream_errors = metrics.errors.labels(backend, "upstream")

    def record(self, event: CacheEvent) -> None:
        self.requests.inc()
        duration = event.duration
        self.duration.observe(duration)
        self.backend_duration.observe(event.backend_duration)
        upstream = event.upstream_duration
        if upstream is not None:
            self.upstream.observe(upstream)
            duration -= upstream
        if self.overhead is not None:
            self.overhead.observe(duration if duration > 0.0 else 0.0)
        if self.lock_waits is not None:
            self.lock_waits.inc()
        if event.error is not None:
            self.backend_errors.inc()
        if event.upstream_error is not None:
            self.upstream_errors.inc()


@final
class PrometheusMetrics:
    """Hitbox metrics in a prometheus-client registry (the default one unless given).

    Install it as a plugin (:meth:`install`) to record every run's event, and/or
    :meth:`watch` caches to export their counters and state at scrape time. Metric names
    start with ``namespace`` (``hitbox_cache_requests_total``...). Histograms use
    ``buckets`` (seconds).
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = REGISTRY,
        *,
        namespace: str = "hitbox",
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> None:
        self.namespace = namespace
        self.registry = registry
        counter, histogram = self._counter, self._histogram
        self.requests = counter(
            "requests",
            "Cache runs by backend, operation and outcome (hit, stale, miss, locked, error, "
            "cancelled): the state that decided the answer.",
            ("backend", "operation", "outcome"),
        )
        self.lock_waits = counter(
            "lock_waits",
            "Runs that waited for another caller's refresh of the same key.",
            ("backend",),
        )
        self.errors = counter(
            "errors",
            "Runs that met an error: source=backend (failed, timed out or undecodable "
            "entry; the upstream answered) or source=upstream (the upstream raised).",
            ("backend", "source"),
        )
        self.backend_events = counter(
            "backend_events",
            "Things backends noticed outside a run, by kind (oversized: a value over the "
            "store's item size limit was not cached).",
            ("backend", "kind"),
        )
        self.duration = histogram(
            "duration_seconds",
            "Wall time of a cache run, upstream call and lock waits included.",
            ("backend", "outcome"),
            buckets,
        )
        self.upstream_duration = histogram(
            "upstream_duration_seconds",
            "Wall time of the upstream calls made by cache runs.",
            ("backend", "operation"),
            buckets,
        )
        self.backend_duration = histogram(
            "backend_duration_seconds",
            "Time a cache run spent in backend calls (reads, writes, lock attempts).",
            ("backend", "outcome"),
            buckets,
        )
        self.overhead = histogram(
            "overhead_seconds",
            "Time a run spent outside the upstream: backend reads and writes, "
            "(de)serialization. Runs that waited on a lock are not observed.",
            ("backend", "outcome"),
            buckets,
        )
        self._plans: dict[str, dict[str, dict[tuple[State, ...], _Plan]]] = {}
        self._plan_count = 0
        self._watched: dict[str, weakref.ref[Cache]] = {}
        self._watch_lock = threading.Lock()
        self.guard = FailureGuard("prometheus")
        self._collector = _WatchCollector(self)
        if registry is not None:
            registry.register(self._collector)

    def _counter(self, name: str, doc: str, labels: Sequence[str]) -> Counter:
        return Counter(
            name, doc, labels, namespace=self.namespace, subsystem="cache", registry=self.registry
        )

    def _histogram(
        self, name: str, doc: str, labels: Sequence[str], buckets: Sequence[float]
    ) -> Histogram:
        return Histogram(
            name,
            doc,
            labels,
            namespace=self.namespace,
            subsystem="cache",
            registry=self.registry,
            buckets=buckets,
        )

    # -- events -------------------------------------------------------------------------

    def install(
        self, manager: PluginManager | None = None, name: str = "prometheus-metrics"
    ) -> Self:
        """Register as a plugin in ``manager`` (the process-wide one by default).

        A cache decides at construction whether anyone listens to its events: install
        before building the caches to observe.
        """
        (manager if manager is not None else get_plugin_manager()).register(self, name)
        return self

    @hookimpl
    def hitbox_cache_event(self, event: CacheEvent) -> None:
        """Record one cache run. Never raises."""
        try:
            plan = None
            by_operation = self._plans.get(event.backend)
            if by_operation is not None:
                by_path = by_operation.get(event.operation)
                if by_path is not None:
                    plan = by_path.get(event.path)
            if plan is None:
                plan = self._plan(event)
            plan.record(event)
        except Exception as exc:
            self.guard.failed("recording a cache event", exc)

    @hookimpl
    def hitbox_backend_event(self, event: BackendEvent) -> None:
        """Count one backend event. Never raises."""
        try:
            self.backend_events.labels(event.backend, event.kind).inc()
        except Exception as exc:
            self.guard.failed("recording a backend event", exc)

    def _plan(self, event: CacheEvent) -> _Plan:
        plan = _Plan(self, event)
        # Paths are few in practice, but LOCKED ⇄ MISS loops could make them many: past
        # the bound, plans are built per event instead of kept (correct, just slower).
        if self._plan_count < _MAX_PLANS:
            by_path = self._plans.setdefault(event.backend, {}).setdefault(event.operation, {})
            if event.path not in by_path:
                by_path[event.path] = plan
                self._plan_count += 1
        return plan

    # -- watched caches -----------------------------------------------------------------

    def watch(self, cache: Cache, name: str | None = None) -> str:
        """Export ``cache``'s counters and state under the label ``cache=name``.

        ``name`` defaults to the backend's label, made unique with a suffix. The cache is
        held weakly: once it is garbage, it disappears from the metrics. Returns the name.
        """
        with self._watch_lock:
            self._prune()
            for other_name, ref in self._watched.items():
                if ref() is cache:
                    raise ValueError(f"this cache is already watched as {other_name!r}")
            if name is None:
                base = _backend_label(cache)
                name, n = base, 1
                while name in self._watched:
                    n += 1
                    name = f"{base}-{n}"
            elif name in self._watched:
                raise ValueError(f"watch name {name!r} is already taken by another cache")
            self._watched[name] = weakref.ref(cache)
            return name

    def unwatch(self, cache: Cache) -> None:
        """Stop exporting ``cache`` (no error if it was not watched)."""
        with self._watch_lock:
            for name, ref in list(self._watched.items()):
                if ref() is cache:
                    del self._watched[name]

    def watched(self) -> list[tuple[str, Cache]]:
        """The live watched caches with their names, sorted by name."""
        with self._watch_lock:
            self._prune()
            pairs = [(name, ref()) for name, ref in self._watched.items()]
        return sorted((name, cache) for name, cache in pairs if cache is not None)

    def _prune(self) -> None:
        for name in [name for name, ref in self._watched.items() if ref() is None]:
            del self._watched[name]


def _backend_label(cache: Cache) -> str:
    """The label a cache's events carry as ``backend`` (``"MemoryBackend"``, ``"dynamodb"``)."""
    backend = cache.backend
    return str(getattr(backend, "label", "") or type(backend).__name__)


@final
class _WatchCollector(Collector):
    """Reads the watched caches when the registry is scraped."""

    def __init__(self, metrics: PrometheusMetrics) -> None:
        self._metrics = metrics

    def _families(self) -> dict[str, _Family]:
        prefix = f"{self._metrics.namespace}_cache"
        families: dict[str, _Family] = {
            field: CounterMetricFamily(
                f"{prefix}_stats_{field}", f"{text} (cache.stats())", labels=["cache"]
            )
            for field, text in _STATS_FIELDS
        }
        families["breaker"] = GaugeMetricFamily(
            f"{prefix}_circuit_breaker_state",
            "1 for the circuit breaker's current state (closed, open, half-open), else 0.",
            labels=["cache", "state"],
        )
        families["background"] = GaugeMetricFamily(
            f"{prefix}_background_refreshes",
            "Background refreshes of stale entries running now.",
            labels=["cache"],
        )
        families["entries"] = GaugeMetricFamily(
            f"{prefix}_entries",
            "Entries held by an in-process backend (expired ones not yet dropped included).",
            labels=["cache"],
        )
        families["evictions"] = CounterMetricFamily(
            f"{prefix}_evictions",
            "Entries an in-process backend evicted to stay within its bounds.",
            labels=["cache"],
        )
        return families

    def describe(self) -> Iterator[_Family]:
        return iter(self._families().values())

    def collect(self) -> Iterator[_Family]:
        families = self._families()
        for name, cache in self._metrics.watched():
            try:
                _collect_cache(families, name, cache)
            except Exception as exc:
                self._metrics.guard.failed(f"reading cache {name!r}", exc)
        return iter(families.values())


def _collect_cache(families: dict[str, _Family], name: str, cache: Cache) -> None:
    stats = cache.stats()
    for field, _ in _STATS_FIELDS:
        families[field].add_metric([name], getattr(stats, field))
    state = cache.breaker_state
    for candidate in BREAKER_STATES:
        families["breaker"].add_metric([name, candidate], 1.0 if candidate == state else 0.0)
    families["background"].add_metric([name], cache.background_tasks)
    backend = cache.backend
    if backend.is_local and isinstance(backend, Sized):
        families["entries"].add_metric([name], len(backend))
    evictions = getattr(backend, "evictions", None)
    if isinstance(evictions, int):
        families["evictions"].add_metric([name], evictions)


_default: PrometheusMetrics | None = None
_default_lock = threading.Lock()


def default_metrics() -> PrometheusMetrics:
    """The process-wide :class:`PrometheusMetrics` on prometheus-client's default registry.

    The ``prometheus`` entry point installs it when ``HITBOX_OBSERVABILITY`` names it;
    call it to :meth:`~PrometheusMetrics.watch` caches.
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = PrometheusMetrics()
        return _default
