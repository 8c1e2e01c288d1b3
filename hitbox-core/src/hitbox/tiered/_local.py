"""What a tiered backend can answer from its L1 alone (:class:`hitbox.backend.LocalReads`).

``read_local`` must return what ``get`` would, or say it does not know. ``get`` returns
an L1 entry as it is only when it reads L1 directly (no key prefix from a flush by
generation, no timeout, the breaker closed), the entry is not the negative-caching
marker (``get`` turns that into ``None`` and counts it) and no tag invalidation
received over the bus covers it; and it keeps the bus listener running on the calling
loop, without which L1 would not hear other instances' invalidations. Everything else —
an L1 miss first of all, which the lower tiers may answer — is ``NOT_LOCAL``, and the
caller's ``get`` decides (and refills L1, so the next read is known locally).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

from hitbox.backend._contract import LocalReads
from hitbox.backend._value import NOT_LOCAL
from hitbox.tiered._stack import TierStack
from hitbox.tiered._tier import is_absent

__all__ = ["LocalReader"]

_running_loop: Final = asyncio.get_running_loop


class LocalReader:
    """``read_local`` for one tiered backend: its L1's local answer, when ``get`` would
    return that very entry. ``available`` is False when L1 cannot read locally."""

    __slots__ = ("_read_top", "_stack", "available")

    def __init__(self, stack: TierStack) -> None:
        self._stack = stack
        top = stack.top.backend
        self._read_top: Callable[[str], Any] | None = None
        if isinstance(top, LocalReads) and getattr(top, "local_reads", True):
            self._read_top = top.read_local
        self.available = self._read_top is not None

    def read(self, key: str) -> Any:
        """The L1 entry ``get(key)`` would return now, or ``NOT_LOCAL``."""
        read_top = self._read_top
        stack = self._stack
        top = stack.top
        if read_top is None or not top.direct or not self._bus_heard():
            return NOT_LOCAL
        try:
            entry = read_top(key)
        except Exception:  # the contract says never; a third-party L1 may still raise
            return NOT_LOCAL
        if entry is None or entry is NOT_LOCAL or is_absent(entry):
            return NOT_LOCAL  # a miss (the tiers below may hold it), or the absent marker
        if stack.tags.times and stack.tags.stale(entry):
            return NOT_LOCAL
        top.hits += 1
        return entry

    def _bus_heard(self) -> bool:
        """Whether the bus listener runs where it can hear invalidations for this caller:
        ``get`` starts it on the calling loop, which a local read cannot do."""
        watcher = self._stack.watcher
        if watcher is None:
            return True
        loop = watcher.loop
        if loop is None or loop.is_closed():
            return False
        try:
            return _running_loop() is loop
        except RuntimeError:  # a thread without a loop: the listener runs on its own loop
            return True
