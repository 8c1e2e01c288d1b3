"""Rate-limited logging for warnings that can fire on every request during an outage.

A backend that is down makes every cache operation fail; fail-open keeps the callers
working, but a warning per failed operation would bury the operator's terminal (and cost
a formatted log record per request). :class:`RateLimitedLogger` lets one message of each
*kind* through per interval and counts the rest; the count rides on the next message of
that kind that gets through, so nothing is lost silently.

It is public so that backends and protocol layers — which import only the public
``hitbox`` API — pace their warnings the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final, final

from hitbox._errors import ConfigError

__all__ = ["RateLimitedLogger"]

# Kinds are a handful of message classes per call site; the cap only guards against a
# caller that passes per-request values (keys, URLs) as kinds by mistake.
_MAX_KINDS: Final = 1024


@final
class RateLimitedLogger:
    """Logs through ``logger`` at most once per ``interval`` seconds per kind.

    A *kind* names a class of message (``"set-failed"``, ``"oversized"``), never a key or
    another per-request value. Messages of a kind held back within the interval are
    counted, and the next one that gets through ends with
    ``" (N similar messages suppressed)"``. Each kind has its own window, so a rare
    problem is not hidden behind a frequent one.

    ``clock`` returns seconds, :func:`time.monotonic` by default; pass the cache's clock
    (or a :class:`hitbox.ManualClock`) to test pacing without waiting. A clock that jumps
    backwards ends the current window. ``interval=0`` logs everything. Safe to share
    between threads.

    Example::

        warnings = RateLimitedLogger(logging.getLogger("hitbox_mybackend"), interval=60)
        warnings.warning("set-failed", "set failed: %r", exc)  # once a minute at most
    """

    __slots__ = ("_last", "_lock", "_suppressed", "clock", "interval", "logger")

    def __init__(
        self,
        logger: logging.Logger | str,
        interval: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not interval >= 0:  # also rejects NaN
            raise ConfigError(
                f"interval: expected seconds >= 0, got {interval!r}",
                field="interval",
                value=interval,
            )
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.interval = float(interval)
        self.clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def log(self, level: int, kind: str, msg: str, *args: object) -> bool:
        """Log ``msg % args`` at ``level`` unless a ``kind`` message went out recently.

        Returns whether the message was logged. A level the logger does not emit costs
        one check and is neither logged nor counted.
        """
        return self._log(level, kind, msg, args)

    def warning(self, kind: str, msg: str, *args: object) -> bool:
        """:meth:`log` at ``WARNING``."""
        return self._log(logging.WARNING, kind, msg, args)

    def error(self, kind: str, msg: str, *args: object) -> bool:
        """:meth:`log` at ``ERROR``."""
        return self._log(logging.ERROR, kind, msg, args)

    def suppressed(self, kind: str) -> int:
        """How many ``kind`` messages were held back since the last one logged."""
        with self._lock:
            return self._suppressed.get(kind, 0)

    def _log(self, level: int, kind: str, msg: str, args: tuple[object, ...]) -> bool:
        if not self.logger.isEnabledFor(level):
            return False
        with self._lock:
            now = self.clock()
            last = self._last.get(kind)
            if last is not None and 0 <= now - last < self.interval:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return False
            if last is None and len(self._last) >= _MAX_KINDS:
                self._last.clear()
                self._suppressed.clear()
            self._last[kind] = now
            suppressed = self._suppressed.pop(kind, 0)
        if suppressed:
            msg += " (%d similar messages suppressed)"
            args = (*args, suppressed)
        # stacklevel=3: the record names the caller's line, not this module's.
        self.logger.log(level, msg, *args, stacklevel=3)
        return True
