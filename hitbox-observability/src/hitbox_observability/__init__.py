"""Hitbox observability: Prometheus metrics and OpenTelemetry tracing for Hitbox caches.

Both exporters listen on the ``hitbox_cache_event`` hook; import them from their
submodules (:mod:`hitbox_observability.prometheus`, :mod:`hitbox_observability.opentelemetry`),
which need the ``prometheus`` and ``opentelemetry`` extras respectively.
"""

from __future__ import annotations

__all__: list[str] = []
