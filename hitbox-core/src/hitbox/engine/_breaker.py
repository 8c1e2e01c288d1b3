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
from collections.abc import Callable
from typing import final

from hitbox._logging import RateLimitedLogger

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
    """Warnings about one backend (``label``): at most one per ``interval`` seconds per
    kind, the rest counted (a :class:`~hitbox.RateLimitedLogger` on real time: log
    pacing is about the operator's terminal, not the cache)."""

    __slots__ = ("_warnings", "label")

    def __init__(self, label: str, interval: float = 10.0) -> None:
        self.label = label
        self._warnings = RateLimitedLogger(logger, interval)

    def warn(self, kind: str, message: str) -> bool:
        """Log ``message`` unless one of ``kind`` was logged recently; logged?"""
        return self._warnings.warning(kind, "hitbox backend %s: %s", self.label, message)
