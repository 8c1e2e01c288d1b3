"""What the cache does about a failing backend: a circuit breaker and rate-limited warnings.

After ``failure_threshold`` consecutive failures the breaker *opens*: for ``cooldown``
seconds the backend is not called at all (every run goes straight to the upstream, so a
dead backend stops costing a timeout per call). Then one probe call is let through; its
success closes the breaker, its failure opens it for another ``cooldown``.

Warnings about failures go to the ``hitbox`` logger, at most one per kind of failure per
interval, with a count of the ones held back, so an outage does not flood the logs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import final

__all__ = ["CircuitBreaker", "FailureLog"]

logger = logging.getLogger("hitbox")


@final
class CircuitBreaker:
    """Counts consecutive backend failures and switches the backend off for a while.

    ``tripped`` is a plain attribute the hot path reads: ``False`` means "closed, call
    the backend". When it is ``True``, :meth:`allow` decides whether this call is the
    probe. Every allowed call must end in :meth:`success`, :meth:`failure` or
    :meth:`abandon` (the call was cancelled: it proved nothing).
    """

    __slots__ = ("_now", "_probing", "cooldown", "failures", "open_until", "threshold", "tripped")

    def __init__(self, threshold: int, cooldown: float, now: Callable[[], float]) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._now = now
        self.failures = 0
        self.tripped = False
        self.open_until = 0.0
        self._probing = False

    def allow(self) -> bool:
        """Whether the backend may be called now (closed, or this call is the probe)."""
        if not self.tripped:
            return True
        if self._probing or self._now() < self.open_until:
            return False
        self._probing = True
        return True

    def success(self) -> None:
        """The backend answered: close the breaker."""
        self.failures = 0
        self._probing = False
        self.tripped = False

    def failure(self) -> bool:
        """The backend failed; returns True if this failure opened the breaker."""
        self.failures += 1
        was_probe = self._probing
        self._probing = False
        if was_probe or (not self.tripped and self.failures >= self.threshold):
            self.tripped = True
            self.open_until = self._now() + self.cooldown
            return True
        return False

    def abandon(self) -> None:
        """The allowed call was cancelled: let the next call probe instead."""
        self._probing = False

    def force_open(self) -> None:
        """Switch the backend off for good (the cache is closed)."""
        self.tripped = True
        self._probing = True
        self.open_until = float("inf")

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"`` (a probe is allowed or running)."""
        if not self.tripped:
            return "closed"
        if self._probing or self._now() >= self.open_until:
            return "half-open"
        return "open"


@final
class FailureLog:
    """Logs warnings at most once per ``interval`` seconds per kind, counting the rest."""

    __slots__ = ("_last", "_suppressed", "interval", "label")

    def __init__(self, label: str, interval: float = 10.0) -> None:
        self.label = label
        self.interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warn(self, kind: str, message: str) -> bool:
        """Log ``message`` unless one of ``kind`` was logged recently; logged?"""
        # Real time on purpose: log pacing is about the operator's terminal, not the cache.
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return False
        self._last[kind] = now
        held_back = self._suppressed.pop(kind, 0)
        suffix = f" ({held_back} similar warnings suppressed)" if held_back else ""
        logger.warning("hitbox backend %s: %s%s", self.label, message, suffix)
        return True
