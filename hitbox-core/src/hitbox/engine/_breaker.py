"""What the cache does about a failing backend: a circuit breaker and rate-limited warnings.

The breaker *opens* after ``threshold`` consecutive failures that span at least two keys
(or operations on no key): one key failing again and again is that key's problem, not
the backend's, and must not switch the cache off for every other key (the guard remembers
such a key instead, see :class:`~hitbox.engine._guard.Guard`). While open, the backend is
not called by users at all; it is *probed* at most once per ``probe_interval`` seconds —
with its health check when it has one (the guard runs it in the background, no caller
waits for it), else by letting one call through — and the first probe that succeeds
closes the breaker. A blip therefore costs the blip plus at most one probe interval.

Warnings about failures go to the ``hitbox`` logger, at most one per kind of failure per
interval, with a count of the ones held back, so an outage does not flood the logs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final, final

from hitbox._logging import RateLimitedLogger

__all__ = ["CircuitBreaker", "FailureLog"]

logger = logging.getLogger("hitbox")

_MANY_KEYS: Final = object()
"""The streak's first key once failures spanned more than one key."""


@final
class CircuitBreaker:
    """Counts consecutive backend failures and switches the backend off until it answers.

    ``tripped`` is a plain attribute the hot path reads: ``False`` means "closed, call
    the backend". When it is ``True``, :meth:`allow` decides whether this call is the
    probe (backends without a health check), or :meth:`probe_due` whether a health probe
    should start. Every allowed call must end in :meth:`success`, :meth:`failure` or
    :meth:`abandon` (the call was cancelled: it proved nothing).
    """

    __slots__ = (
        "_first_key",
        "_now",
        "_probing",
        "failures",
        "next_probe",
        "probe_interval",
        "threshold",
        "tripped",
    )

    def __init__(self, threshold: int, probe_interval: float, now: Callable[[], float]) -> None:
        self.threshold = threshold
        self.probe_interval = probe_interval
        self._now = now
        self.failures = 0
        self.tripped = False
        self.next_probe = 0.0
        self._probing = False
        self._first_key: object = None

    @property
    def cooldown(self) -> float:
        """Seconds between probes while open (the policy's ``cooldown``)."""
        return self.probe_interval

    def allow(self) -> bool:
        """Whether the backend may be called now (closed, or this call is the probe)."""
        if not self.tripped:
            return True
        return self.probe_due()

    def probe_due(self) -> bool:
        """Whether a probe may start now; if so, it is marked running."""
        if self._probing or self._now() < self.next_probe:
            return False
        self._probing = True
        return True

    def success(self) -> None:
        """The backend answered: close the breaker."""
        self.failures = 0
        self._first_key = None
        self._probing = False
        self.tripped = False

    def failure(self, key: str | None = None) -> bool:
        """The backend failed on ``key`` (``None``: an operation on no single key or a
        health probe); returns True if this failure opened the breaker (or, while open,
        re-armed it: a probe failed)."""
        self.failures += 1
        was_probe = self._probing
        self._probing = False
        if self.tripped:
            if was_probe:
                self.next_probe = self._now() + self.probe_interval
                return True
            return False
        first = self._first_key
        if key is None or (first is not None and first != key):
            self._first_key = _MANY_KEYS
        elif first is None:
            self._first_key = key
        if self.failures >= self.threshold and self._first_key is _MANY_KEYS:
            self.trip()
            return True
        return False

    @property
    def one_key_streak(self) -> bool:
        """Whether the failures so far reached the threshold on one key alone (the breaker
        stays closed; a health probe may confirm an outage)."""
        return self.failures >= self.threshold and self._first_key not in (None, _MANY_KEYS)

    def trip(self) -> None:
        """Open now (an outage confirmed); the next probe after one interval."""
        self.tripped = True
        self._probing = False
        self.next_probe = self._now() + self.probe_interval

    def abandon(self) -> None:
        """The allowed call was cancelled: let the next call probe instead."""
        self._probing = False

    def force_open(self) -> None:
        """Switch the backend off for good (the cache is closed)."""
        self.tripped = True
        self._probing = True
        self.next_probe = float("inf")

    @property
    def closed_for_good(self) -> bool:
        """Whether :meth:`force_open` switched the backend off."""
        return self.tripped and self.next_probe == float("inf")

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"`` (a probe is allowed or running)."""
        if not self.tripped:
            return "closed"
        if self._probing or self._now() >= self.next_probe:
            return "half-open" if self.next_probe != float("inf") else "open"
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
