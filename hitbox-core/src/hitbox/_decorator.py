"""The ``@cache.cached`` wrapper: key function, typed restore, and the hit fast path.

The wrapper is built once per decorated function. On an in-process, object-mode backend
with no event listener, a fresh hit never enters the state machine: the wrapper builds
the key with the compiled key function, reads the backend, checks freshness, counts the
hit and returns the stored object — no signature binding, no timeout, no task, no hook
call, no deserialization. That is the ``PENDING → HIT → RESPONSE`` path, taken inline.
Everything else (misses, stale entries, tags, failures, remote backends) runs through
:class:`~hitbox._machine.Machine`.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, final

from hitbox._access import BackendAccess
from hitbox._errors import KeyStrategyError
from hitbox._machine import UNREAD, Call, Machine, describe
from hitbox._value import NO_VALUE, CachedValue
from hitbox.keys import KeyFunction
from hitbox.policy import Policy

__all__ = ["CachedFunction", "ReturnHint", "build_wrapper"]

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

_NO_RESTORE = (None, type(None), Any, object)


class CachedFunction(Protocol[P, R_co]):
    """What ``@cache.cached`` returns: the coroutine function, plus key helpers."""

    @property
    def __wrapped__(self) -> Callable[P, Awaitable[R_co]]:
        """The original function."""
        ...

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R_co]:
        """Call through the cache."""
        ...

    def cache_key(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """The key a call with these arguments reads and writes."""
        ...

    async def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Drop the entry for these arguments; whether the backend confirmed it."""
        ...


@final
class ReturnHint(Generic[R]):
    """The decorated function's return annotation, resolved on first use (or ``None``).

    Resolution waits until a value must be restored, so forward references defined after
    the decorator ran still resolve. Unresolvable or uninformative annotations (``Any``,
    ``object``, ``None``) mean "restore as decoded".
    """

    __slots__ = ("_func", "_hint", "_resolved")

    def __init__(self, func: Callable[..., Awaitable[R]]) -> None:
        self._func = func
        self._hint: Any = None
        self._resolved = False

    def __call__(self) -> Any:
        if not self._resolved:
            try:
                hint = typing.get_type_hints(self._func).get("return")
            except Exception:
                hint = None
            self._hint = None if any(hint is plain for plain in _NO_RESTORE) else hint
            self._resolved = True
        return self._hint


def build_wrapper(
    func: Callable[P, Awaitable[R]],
    *,
    key_fn: KeyFunction,
    tags_fn: Callable[..., tuple[str, ...]] | None,
    policy: Policy,
    machine: Machine,
    access: BackendAccess,
    fast_hits: bool,
    invalidate: Callable[[str], Awaitable[bool]],
) -> CachedFunction[P, R]:
    """The caching wrapper of ``func`` (see the module docstring for the fast path)."""
    execute = machine.execute
    counters = machine.counters
    hint: ReturnHint[R] = ReturnHint(func)

    def slow_call(key: str, args: Any, kwargs: Any) -> Call:
        tags = tags_fn(*args, **kwargs) if tags_fn is not None else ()
        return Call(key, policy, functools.partial(func, *args, **kwargs), hint, tags, "cached")

    async def uncached(exc: KeyStrategyError, args: Any, kwargs: Any) -> R:
        access.log.warn("key", f"no cache key for a call of {func.__qualname__} ({describe(exc)})")
        counters.upstream_calls += 1
        return await func(*args, **kwargs)

    if fast_hits:
        breaker = access.breaker
        get = access.backend.get
        now = access.clock.now

        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                key = key_fn(*args, **kwargs)
            except KeyStrategyError as exc:
                return await uncached(exc, args, kwargs)
            entry: Any = UNREAD
            if not breaker.tripped:
                try:
                    entry = await get(key)
                    if entry is not None and now() < entry.fresh_until and not entry.tags:
                        value = entry.value
                        if value is not NO_VALUE:
                            counters.hits += 1
                            return value  # type: ignore[no-any-return]
                except Exception:  # the machine reads again and handles the failure
                    entry = UNREAD
                # Hand over what was read, unless it needs the checks the machine's read
                # does (type, tags).
                if entry is not None and (type(entry) is not CachedValue or entry.tags):
                    entry = UNREAD
            result: R = await execute(slow_call(key, args, kwargs), entry)
            return result

    else:

        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                key = key_fn(*args, **kwargs)
            except KeyStrategyError as exc:
                return await uncached(exc, args, kwargs)
            result: R = await execute(slow_call(key, args, kwargs), UNREAD)
            return result

    async def invalidate_call(*args: P.args, **kwargs: P.kwargs) -> bool:
        return await invalidate(key_fn(*args, **kwargs))

    functools.update_wrapper(wrapper, func)
    wrapper.cache_key = key_fn  # type: ignore[attr-defined]
    wrapper.invalidate = invalidate_call  # type: ignore[attr-defined]
    return typing.cast("CachedFunction[P, R]", wrapper)
