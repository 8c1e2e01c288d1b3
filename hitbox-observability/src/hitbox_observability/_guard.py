"""What keeps an exporter's failure away from the cache: catch, count, warn rarely.

An exporter runs inside every cache operation (``hitbox_cache_event``) and at every
scrape. A bug or a misbehaving metrics library must neither raise into the cache nor
flood the logs, so failures are logged to the ``hitbox_observability`` logger at most
once per ``interval`` seconds per exporter, with the number held back since.
"""

from __future__ import annotations

import logging
import threading
from typing import final

import hitbox

__all__ = ["FailureGuard", "logger"]

logger = logging.getLogger("hitbox_observability")
"""The package's one logger; warnings only, rate-limited."""


@final
class FailureGuard:
    """Counts an exporter's own failures and logs them at most once per ``interval``."""

    __slots__ = ("_lock", "_warnings", "failures", "label")

    def __init__(self, label: str, interval: float = 60.0) -> None:
        self.label = label
        self.failures = 0
        self._lock = threading.Lock()
        # Real time (the default clock) on purpose: pacing is about the operator's
        # terminal, not a cache.
        self._warnings = hitbox.RateLimitedLogger(logger, interval)

    @property
    def interval(self) -> float:
        """Seconds between two logged failures."""
        return self._warnings.interval

    def failed(self, what: str, exc: BaseException) -> None:
        """Record that ``what`` raised ``exc``; log it unless one was logged recently."""
        with self._lock:
            self.failures += 1
        # One kind for the whole exporter: one window, whatever failed.
        self._warnings.warning(
            "failure",
            "hitbox %s exporter: %s failed: %s: %s; the cache is unaffected",
            self.label,
            what,
            type(exc).__name__,
            exc,
        )
