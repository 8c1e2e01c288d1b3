"""Entry-point plugins ``prometheus`` and ``opentelemetry``: opt-in, off by default.

Installing hitbox-observability must not make every cache in the process pay for
events: a cache checks once whether any plugin listens to ``hitbox_cache_event`` and,
if none does, its hit path builds no event at all. So the two entry points load inert
objects (registered plugins that implement no hook) unless the environment variable
``HITBOX_OBSERVABILITY`` names them (``HITBOX_OBSERVABILITY=prometheus,opentelemetry``).
Then they are the process-wide default exporters:
:func:`hitbox_observability.prometheus.default_metrics` (on prometheus-client's default
registry) and :func:`hitbox_observability.opentelemetry.default_instrumentation` (on the
global tracer and meter providers).

In code, the explicit form needs no environment variable::

    PrometheusMetrics().install()   # before building the caches it should observe

Importing this module stays cheap: prometheus-client and OpenTelemetry are imported
only when enabled.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import final

__all__ = ["ENV_VAR", "Disabled", "enabled_exporters", "opentelemetry", "prometheus"]

ENV_VAR = "HITBOX_OBSERVABILITY"
"""Comma-separated exporters to switch on at plugin discovery: ``prometheus``,
``opentelemetry``."""

_KNOWN = frozenset({"prometheus", "opentelemetry"})


@final
class Disabled:
    """The entry point of an exporter that is installed but not switched on.

    It implements no hook, so caches stay on their event-free fast path.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<hitbox-observability {self.name}: off (set {ENV_VAR}={self.name})>"


def enabled_exporters(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The exporters ``HITBOX_OBSERVABILITY`` switches on; unknown names are an error."""
    raw = (os.environ if environ is None else environ).get(ENV_VAR, "")
    names = frozenset(name.strip().lower() for name in raw.split(",") if name.strip())
    unknown = sorted(names - _KNOWN)
    if unknown:
        # Raised at discovery; the plugin manager reports it naming this plugin.
        raise ValueError(
            f"{ENV_VAR}={raw!r}: unknown exporter {unknown[0]!r}; "
            f"choose from {', '.join(sorted(_KNOWN))}"
        )
    return names


def _prometheus_plugin() -> object:
    if "prometheus" not in enabled_exporters():
        return Disabled("prometheus")
    from hitbox_observability.prometheus import default_metrics

    return default_metrics()


def _opentelemetry_plugin() -> object:
    if "opentelemetry" not in enabled_exporters():
        return Disabled("opentelemetry")
    from hitbox_observability.opentelemetry import default_instrumentation

    return default_instrumentation()


prometheus = _prometheus_plugin()
"""The ``prometheus`` entry point: the default :class:`PrometheusMetrics`, or inert."""

opentelemetry = _opentelemetry_plugin()
"""The ``opentelemetry`` entry point: the default :class:`OpenTelemetryInstrumentation`,
or inert."""
