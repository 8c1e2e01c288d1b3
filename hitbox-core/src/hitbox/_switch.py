"""The testing switch: turn caching off (and back on) without touching cached code.

While caching is off, every call of a ``@cache.cached`` function and every
:meth:`Cache.fetch` goes straight to the upstream (counted in ``upstream_calls``);
:meth:`Cache.get` answers its default and :meth:`Cache.set` stores nothing; the HTTP
layer (``hitbox_http.HttpCache``, through :func:`caching_enabled`) bypasses its cache.
The switch is process-wide — every cache, task and thread — because tests usually start
servers and tasks of their own that must see it too::

    with hitbox.disabled():          # a block (async with works too)
        assert await get_user(1) is not await get_user(1)

    hitbox.disable()                 # a whole test session, e.g. in conftest.py
    HITBOX_DISABLE=1 pytest          # or from the environment, read at import

``hitbox.enabled()`` turns it back on for a block inside a disabled session. A cache
checks the switch once where a call starts, so a disabled cache costs one attribute test.
"""

from __future__ import annotations

import logging
import os
from types import TracebackType
from typing import Final, Self, final

__all__ = ["SWITCH", "caching_enabled", "disable", "disabled", "enable", "enabled"]

ENV_VARIABLE: Final = "HITBOX_DISABLE"
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"", "0", "false", "no", "off"})


@final
class _Switch:
    """Whether caching is off; read where each cached call starts."""

    __slots__ = ("off",)

    def __init__(self, off: bool) -> None:
        self.off = off


def _from_environment() -> bool:
    raw = os.environ.get(ENV_VARIABLE, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw not in _FALSE:
        logging.getLogger("hitbox").warning(
            "%s=%r is neither on (1, true, yes, on) nor off (0, false, no, off): caching stays on",
            ENV_VARIABLE,
            raw,
        )
    return False


SWITCH: Final = _Switch(_from_environment())
"""The process-wide switch (``HITBOX_DISABLE=1`` starts it off)."""


def disable() -> None:
    """Turn caching off for the whole process until :func:`enable`."""
    SWITCH.off = True


def enable() -> None:
    """Turn caching back on for the whole process."""
    SWITCH.off = False


def caching_enabled() -> bool:
    """Whether caching is on (see :func:`disabled`)."""
    return not SWITCH.off


@final
class _Block:
    """Sets the switch for a ``with`` or ``async with`` block, then restores it."""

    __slots__ = ("_off", "_saved")

    def __init__(self, off: bool) -> None:
        self._off = off
        self._saved: list[bool] = []

    def __enter__(self) -> Self:
        self._saved.append(SWITCH.off)
        SWITCH.off = self._off
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        SWITCH.off = self._saved.pop()

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)


def disabled() -> _Block:
    """Caching off for a block: ``with hitbox.disabled():`` or ``async with``.

    Every cached call in the block goes straight to its upstream; the previous state
    comes back when the block ends (blocks nest).
    """
    return _Block(off=True)


def enabled() -> _Block:
    """Caching on for a block, e.g. a test of caching itself in a disabled session."""
    return _Block(off=False)
