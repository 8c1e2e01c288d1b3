"""What keeps an exporter's failure away from the cache: catch, count, warn rarely.

An exporter runs inside every cache operation (``hitbox_cache_event``) and at every
scrape. A bug or a misbehaving metrics library must neither raise into the cache nor
flood the logs, so failures are logged to the ``hitbox_observability`` logger at most
once per ``interval`` seconds per exporter, with the number held back since.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import final

__all__ = ["FailureGuard", "logger"]

logger = logging.getLogger("hitbox_observability")
"""The package's one logger; warnings only, rate-limited."""


@final
class FailureGuard:
    """Counts an exporter's own failures and logs them at most once per ``interval``."""

    __slots__ = ("_held_back", "_last", "_lock", "failures", "interval", "label")

    def __init__(self, label: str, interval: float = 60.0) -> None:
        self.label = label
        self.interval = interval
        self.failures = 0
        self._held_back = 0
        self._last: float | None = None
        self._lock = threading.Lock()

    def failed(self, what: str, exc: BaseException) -> None:
        """Record that ``what`` raised ``exc``; log it unless one was logged recently."""
        with self._lock:
            self.failures += 1
            # Real time on purpose: pacing is about the operator's terminal, not a cache.
            now = time.monotonic()
            if self._last is not None and now - self._last < self.interval:
                self._held_back += 1
                return
            self._last = now
            held_back, self._held_back = self._held_back, 0
        suffix = f" ({held_back} similar failures not logged)" if held_back else ""
        logger.warning(
            "hitbox %s exporter: %s failed: %s: %s; the cache is unaffected%s",
            self.label,
            what,
            type(exc).__name__,
            exc,
            suffix,
        )
