"""The ``@cache.cached`` wrapper: key function, typed restore, and the hit fast path.

The wrapper is built once per decorated function. On an in-process, object-mode backend
with no event listener, a fresh hit never enters the state machine: the wrapper builds
the key with the compiled key function, reads the backend, checks freshness, counts the
hit and returns the stored object — no signature binding, no timeout, no task, no hook
call, no deserialization. That is the ``PENDING → HIT → RESPONSE`` path, taken inline.
Everything else (misses, stale entries, tags, failures, remote backends) runs through
:class:`~hitbox.engine._machine.Machine`. For a backend with an ``open`` hook, the first
call on an event loop first waits for it (:mod:`hitbox.engine._opening`).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import textwrap
import time
import typing
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, final

from hitbox._key_codegen import KEY_MEMO_SIZE, KeyMemo
from hitbox._switch import SWITCH
from hitbox.backend._contract import FreshReads, SyncReads
from hitbox.backend._value import NO_VALUE, CachedValue
from hitbox.engine._access import BackendAccess
from hitbox.engine._machine import UNREAD, Call, Machine, describe
from hitbox.engine._opening import Opener
from hitbox.keys import KeyFunction
from hitbox.policy import Policy

__all__ = ["CachedFunction", "ReturnHint", "build_wrapper", "generated_wrapper"]

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

    def __init__(self, func: Callable[..., Any]) -> None:
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
    emit_hit: Callable[[str, float], None] | None = None,
    opener: Opener | None = None,
) -> CachedFunction[P, R]:
    """The caching wrapper of ``func`` (see the module docstring for the fast path)."""
    execute = machine.execute
    counters = machine.counters
    hint: ReturnHint[R] = ReturnHint(func)

    def slow_call(key: str, args: Any, kwargs: Any) -> Call | None:
        """The machine's call, or ``None`` (logged) if the tag templates cannot render."""
        tags: tuple[str, ...] = ()
        if tags_fn is not None:
            try:
                tags = tags_fn(*args, **kwargs)
            except Exception as exc:
                access.log.warn(
                    "tags", f"no cache tags for a call of {func.__qualname__} ({describe(exc)})"
                )
                return None
        return Call(key, policy, functools.partial(func, *args, **kwargs), hint, tags, "cached")

    async def uncached(exc: Exception | None, args: Any, kwargs: Any) -> R:
        """The upstream, bypassing the cache: no key (``exc``), no tags or caching
        switched off (``None``)."""
        if exc is not None:
            access.log.warn(
                "key", f"no cache key for a call of {func.__qualname__} ({describe(exc)})"
            )
        counters.upstream_calls += 1
        return await func(*args, **kwargs)

    wrapper = generated_wrapper(
        func,
        fast_hits=fast_hits,
        key_fn=key_fn,
        uncached=uncached,
        execute=execute,
        slow_call=slow_call,
        access=access,
        emit_hit=emit_hit,
        opener=opener,
    )

    async def invalidate_call(*args: P.args, **kwargs: P.kwargs) -> bool:
        return await invalidate(key_fn(*args, **kwargs))

    functools.update_wrapper(wrapper, func)
    wrapper.cache_key = key_fn  # type: ignore[attr-defined]
    wrapper.invalidate = invalidate_call  # type: ignore[attr-defined]
    return typing.cast("CachedFunction[P, R]", wrapper)


# Only for a backend with an ``open`` hook: the first call on an event loop waits for it.
_OPEN_BLOCK = """\
    if {p}opener.ready is not {p}running_loop():
        await {p}opener.before_first_call()
"""

# The generated wrapper has the decorated function's own parameter list, so a call packs
# no *args tuple or **kwargs dict just to unpack them into the key function. Every name
# it uses is a global starting with a prefix no parameter starts with.
_FAST_BLOCK = """\
    {p}entry = {p}UNREAD
    if not {p}breaker.tripped{healthy}:
{start}\
        try:
            {p}entry = {read}({p}key)
            if (
                {p}entry is not None
                and {p}now() < {p}entry.fresh_until
                and not {p}entry.tags
            ):
{decode}\
                {p}counters.hits += 1
{emit}\
                return {p}value
        except {p}Exception:  # the machine reads again and handles the failure
            {p}entry = {p}UNREAD
        # Hand over what was read unless it needs the machine's checks (type, tags).
        if {p}entry is not None and (
            {p}type({p}entry) is not {p}CachedValue or {p}entry.tags
        ):
            {p}entry = {p}UNREAD
"""
"""The fresh-hit path, inlined in both wrappers (``async def`` and ``def``): the
machine's ``PENDING -> HIT -> RESPONSE`` for an entry fresh by its times with no tags.
``{read}`` is ``await get`` or a ``SyncReads`` backend's ``get_sync``; ``{decode}`` takes
the kept object (object mode) or deserializes (bytes mode); an entry it cannot use goes
to the machine."""

# The same path on a :class:`~hitbox.backend.FreshReads` backend (in-process, object
# mode): the backend answers the fresh hit in one call, key and clock reading in, kept
# value (or NO_VALUE: "ask the machine") out. The machine then reads the entry itself.
_FRESH_BLOCK = """\
    {p}entry = {p}UNREAD
    if not {p}breaker.tripped{healthy}:
{start}\
        try:
            {p}value = {p}fresh_value({p}key, {p}now())
            if {p}value is not {p}NO_VALUE:
                {p}counters.hits += 1
{emit}\
                return {p}value
{handover}\
        except {p}Exception:  # not the contract: the machine reads and judges
            {p}entry = {p}UNREAD
"""
# What a FreshReads backend that also has SyncReads hands the machine after a non-hit:
# the entry itself (``None`` for a miss), read without the coroutine and the guard's
# bookkeeping of the machine's own read, unless it needs the machine's checks.
_HANDOVER = """\
            {p}entry = {p}get_sync({p}key)
            if {p}entry is not None and (
                {p}type({p}entry) is not {p}CachedValue or {p}entry.tags
            ):
                {p}entry = {p}UNREAD
"""

_TEMPLATE = """\
async def {name}({params}):
    if {p}switch.off:
        return await {p}uncached(None, {args}, {kwargs})
{key}{open}\
{fast}\
    {p}call = {p}slow_call({p}key, {args}, {kwargs})
    if {p}call is None:
        return await {p}uncached(None, {args}, {kwargs})
    return await {p}execute({p}call, {entry})
"""

# Object mode keeps the value; an entry without one (bytes written by another path) is
# left to the engine. Bytes mode deserializes; a failure there is the engine's too.
_KEPT_VALUE = """\
                {p}value = {p}entry.value
                if {p}value is {p}NO_VALUE:
                    raise {p}Unusable
"""
_DECODED_VALUE = """\
                {p}value = {p}loads({p}entry.data, {p}hint())
"""

# The sync variant (a ``def`` function): ``get`` is the backend's thread-safe
# ``get_sync``; everything that is not a fresh hit goes to ``slow``, which runs the call
# on the cache's engine (hitbox._sync_call).
_SYNC_TEMPLATE = """\
def {name}({params}):
    if {p}switch.off:
        return {p}uncached(None, {args}, {kwargs})
{key}{fast}\
    return {p}slow({p}key, {args}, {kwargs}, {entry})
"""


_KEY_BLOCK = """\
    try:
        {p}key = {p}key_fn({forward})
    except {p}Exception as {p}exc:
        return {await_}{p}uncached({p}exc, {args}, {kwargs})
"""

# A key function with a memo (hitbox._key_codegen.KeyMemo) gets the keys of exact
# int/str arguments remembered here: a remembered key is one dict lookup, and the key
# function (its formatting and the new string's hashing) runs only for the rest. The
# ``{key}`` and ``{plain}`` blocks are the plain key block, indented for their branch.
_MEMO_BLOCK = """\
    if {p}type({arg}) is {p}int or {p}type({arg}) is {p}str:
        {p}key = {p}memo.get({arg})
        if {p}key is None:
{key}\
            if {p}len({p}memo) >= {size}:
                {p}memo.clear()
            {p}memo[{arg}] = {p}key
    else:
{plain}\
"""


class _UnusableEntryError(Exception):
    """Raised inside the sync fast path: the entry is the engine's to judge."""


_P = inspect.Parameter
_ANY_ARGUMENTS = [_P("args", _P.VAR_POSITIONAL), _P("kwargs", _P.VAR_KEYWORD)]


def generated_wrapper(
    func: Callable[..., Any],
    *,
    fast_hits: bool,
    key_fn: KeyFunction,
    uncached: Callable[..., Any],
    execute: Callable[..., Any],
    slow_call: Callable[..., Call | None],
    access: BackendAccess,
    emit_hit: Callable[[str, float], None] | None,
    opener: Opener | None = None,
    sync_get: Callable[[str], Any] | None = None,
    hint: Callable[[], Any] | None = None,
) -> Callable[..., Any]:
    """The wrapper, generated with ``func``'s parameter list (``*args, **kwargs`` when
    its signature cannot be read): the one definition of the decorated call.

    With ``sync_get`` (a sync function's wrapper, :mod:`hitbox._sync_call`) it is a plain
    ``def``: ``execute`` is then the sync slow path, ``slow(key, args, kwargs, entry)``,
    and ``fast_hits`` reads through ``sync_get``."""
    sync = sync_get is not None
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        params = _ANY_ARGUMENTS
    if not all(param.name.isidentifier() for param in params):
        params = _ANY_ARGUMENTS
    p = "_hbw_"
    while any(param.name.startswith(p) for param in params):
        p = "_" + p
    namespace: dict[str, Any] = {
        f"{p}key_fn": key_fn,
        f"{p}uncached": uncached,
        f"{p}execute": execute,
        f"{p}slow_call": slow_call,
        f"{p}breaker": access.breaker,
        f"{p}get": access.backend.get,
        f"{p}get_sync": getattr(access.backend, "get_sync", None),
        f"{p}now": access.clock.now,
        f"{p}counters": access.counters,
        f"{p}NO_VALUE": NO_VALUE,
        f"{p}UNREAD": UNREAD,
        f"{p}CachedValue": CachedValue,
        f"{p}Exception": Exception,
        f"{p}type": type,
        f"{p}int": int,
        f"{p}str": str,
        f"{p}len": len,
        f"{p}emit_hit": emit_hit,
        f"{p}perf_counter": time.perf_counter,
        f"{p}switch": SWITCH,
        f"{p}opener": opener,
        f"{p}running_loop": asyncio.get_running_loop,
        f"{p}slow": execute,
        f"{p}loads": access.serializer.loads,
        f"{p}hint": hint,
        f"{p}Unusable": _UnusableEntryError,
        f"{p}fresh_value": getattr(access.backend, "fresh_value", None),
    }
    if sync_get is not None:
        namespace[f"{p}get"] = sync_get
    declared: list[str] = []
    forward: list[str] = []
    args: list[str] = []
    kwargs: list[str] = []
    star = False
    for index, param in enumerate(params):
        name, kind = param.name, param.kind
        text = name
        if kind is _P.KEYWORD_ONLY and not star:
            declared.append("*")
        if kind is _P.VAR_POSITIONAL:
            text = f"*{name}"
            forward.append(text)
            args.append(text)
        elif kind is _P.VAR_KEYWORD:
            text = f"**{name}"
            forward.append(text)
            kwargs.append(text)
        elif kind is _P.KEYWORD_ONLY:
            forward.append(f"{name}={name}")
            kwargs.append(f"{name!r}: {name}")
        else:
            forward.append(name)
            args.append(name)
        star = star or kind in (_P.KEYWORD_ONLY, _P.VAR_POSITIONAL)
        if param.default is not _P.empty:
            default = f"{p}default{index}"
            namespace[default] = param.default
            text += f"={default}"
        declared.append(text)
        following = params[index + 1].kind if index + 1 < len(params) else None
        if kind is _P.POSITIONAL_ONLY and following is not _P.POSITIONAL_ONLY:
            declared.append("/")
    # An in-process backend that reads without awaiting saves a coroutine per hit.
    read = f"{p}get_sync" if isinstance(access.backend, SyncReads) else f"await {p}get"
    # With a listener, a fast hit is timed and reported; without one, it costs nothing.
    start = f"        {p}started = {p}perf_counter()\n" if emit_hit is not None else ""
    emit = (
        f"                {p}emit_hit({p}key, {p}perf_counter() - {p}started)\n"
        if emit_hit is not None
        else ""
    )
    # A sync caller reads in its own thread: after a failure it leaves the backend to the
    # engine's loop, where the guard decides.
    healthy = f" and not {p}breaker.failures" if sync else ""
    # An object-mode FreshReads backend answers the whole fresh hit in one call; the
    # machine reads the entry again for everything else.
    fresh = access.stores_objects and isinstance(access.backend, FreshReads)
    if fresh:
        handover = _HANDOVER.format(p=p) if isinstance(access.backend, SyncReads) else ""
        fast = _FRESH_BLOCK.format(p=p, start=start, emit=emit, healthy=healthy, handover=handover)
    else:
        fast = _FAST_BLOCK.format(
            p=p,
            start=start,
            emit=emit,
            read=f"{p}get" if sync else read,
            healthy=healthy,
            decode=(_KEPT_VALUE if access.stores_objects else _DECODED_VALUE).format(p=p),
        )
    key_format = {
        "p": p,
        "forward": ", ".join(forward),
        "args": f"({', '.join(args)},)" if args else "()",
        "kwargs": "{" + ", ".join(kwargs) + "}",
        "await_": "" if sync else "await ",
    }
    key_block = _KEY_BLOCK.format(**key_format)
    memo: KeyMemo | None = getattr(key_fn, "key_memo", None)
    if memo is not None and any(param.name == memo.parameter for param in params):
        namespace[f"{p}memo"] = memo.keys
        key_block = _MEMO_BLOCK.format(
            p=p,
            arg=memo.parameter,
            size=KEY_MEMO_SIZE,
            key=textwrap.indent(key_block, " " * 8),
            plain=textwrap.indent(key_block, " " * 4),
        )
    source = (_SYNC_TEMPLATE if sync else _TEMPLATE).format(
        key=key_block,
        name=f"{p}wrapper",
        params=", ".join(declared),
        p=p,
        forward=", ".join(forward),
        args=f"({', '.join(args)},)" if args else "()",
        kwargs="{" + ", ".join(kwargs) + "}",
        open=_OPEN_BLOCK.format(p=p) if opener is not None else "",
        fast=fast if fast_hits else "",
        entry=f"{p}entry" if fast_hits else f"{p}UNREAD",
    )
    label = getattr(func, "__qualname__", None) or repr(func)
    exec(compile(source, f"<hitbox cached wrapper for {label}>", "exec"), namespace)  # noqa: S102
    wrapper: Callable[..., Any] = namespace[f"{p}wrapper"]
    return wrapper
