"""The decorator face of :class:`hitbox.Cache`: ``@cache.cached`` on ``async def`` and
``def`` functions.

It compiles the key and tag templates once per function and builds the wrapper: the
generated ``async def`` wrapper (:mod:`hitbox._decorator`) for coroutine functions, the
sync one (:mod:`hitbox._sync_call`) for plain functions. Both run the cache's one engine.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from hitbox._decorator import CachedFunction, build_wrapper
from hitbox._durations import DurationLike
from hitbox._sync_call import CacheDecorator, SyncCachedFunction, SyncRunner, build_sync_wrapper
from hitbox.engine._access import BackendAccess
from hitbox.engine._events import EventSink
from hitbox.engine._machine import Machine
from hitbox.engine._opening import Opener
from hitbox.keys import KeyStrategy
from hitbox.policy import LockMode, Policy

__all__ = ["DecoratorFace"]

P = ParamSpec("P")
R = TypeVar("R")


class DecoratorFace:
    """``cached`` (mixed into :class:`hitbox.Cache`)."""

    _policy: Policy
    _keys: KeyStrategy
    _events: EventSink
    _listening: bool
    _sync: SyncRunner
    _sync_get: Callable[[str], Any] | None
    _access: BackendAccess
    _machine: Machine
    _opener: Opener | None

    if TYPE_CHECKING:  # defined by Cache

        def _invalidate_key(self, key: str) -> Coroutine[Any, Any, bool]: ...

    @overload
    def cached(  # type: ignore[overload-overlap]  # async def first: the narrower match
        self, func: Callable[P, Awaitable[R]], /
    ) -> CachedFunction[P, R]: ...

    @overload
    def cached(self, func: Callable[P, R], /) -> SyncCachedFunction[P, R]: ...

    @overload
    def cached(
        self,
        func: None = None,
        /,
        *,
        key: str | None = None,
        tags: Iterable[str] = (),
        ttl: DurationLike | None = None,
        max_stale: DurationLike | None = None,
        stale_if_error: DurationLike | None = None,
        lock: LockMode | None = None,
        lock_timeout: DurationLike | None = None,
        cache_none: bool | None = None,
        cacheable: Callable[[Any], bool] | None = None,
    ) -> CacheDecorator: ...

    def cached(
        self,
        func: Callable[P, Any] | None = None,
        /,
        *,
        key: str | None = None,
        tags: Iterable[str] = (),
        ttl: DurationLike | None = None,
        max_stale: DurationLike | None = None,
        stale_if_error: DurationLike | None = None,
        lock: LockMode | None = None,
        lock_timeout: DurationLike | None = None,
        cache_none: bool | None = None,
        cacheable: Callable[[Any], bool] | None = None,
    ) -> Any:
        """Cache a function: ``@cache.cached`` or ``@cache.cached(ttl=...)``.

        An ``async def`` function gives a coroutine function; a plain ``def`` function a
        sync function whose ``invalidate`` is sync too (its misses run on the cache's
        private loop, the function itself in the calling thread: ``docs/sync.md``).

        ``key`` is a template over the function's parameters (``"user:{user_id}"``);
        without one the key strategy encodes the function's name and all its arguments.
        ``tags`` are templates too; :meth:`invalidate_tags` drops every entry carrying
        one. The other keywords override the cache's :class:`Policy` for this function.
        Cached values are restored as the function's return annotation. The wrapper
        keeps the signature and adds ``cache_key(...)`` and ``invalidate(...)``.
        """
        policy = self._policy.merged(
            ttl=ttl,
            max_stale=max_stale,
            stale_if_error=stale_if_error,
            lock=lock,
            lock_timeout=lock_timeout,
            cache_none=cache_none,
            cacheable=cacheable,
        )
        tag_templates = (tags,) if isinstance(tags, str) else tuple(tags)

        def decorate(target: Callable[P, Any]) -> Any:
            if inspect.isasyncgenfunction(target) or not callable(target):
                raise TypeError(
                    f"@cache.cached needs a function (async def or def); "
                    f"{getattr(target, '__qualname__', target)!r} is not one"
                )
            key_fn = self._keys.compile(target, key)
            tags_fn = self._keys.compile_tags(target, tag_templates) if tag_templates else None
            emit_hit = self._events.hit if self._listening else None
            if not inspect.iscoroutinefunction(target):
                return build_sync_wrapper(
                    target,
                    key_fn=key_fn,
                    tags_fn=tags_fn,
                    policy=policy,
                    runner=self._sync,
                    access=self._access,
                    sync_get=self._sync_get,
                    emit_hit=emit_hit,
                    invalidate=self._invalidate_key,
                )
            return build_wrapper(
                target,
                key_fn=key_fn,
                tags_fn=tags_fn,
                policy=policy,
                machine=self._machine,
                access=self._access,
                fast_hits=self._access.is_local and self._access.stores_objects,
                emit_hit=emit_hit,
                invalidate=self._invalidate_key,
                opener=self._opener,
            )

        return decorate if func is None else decorate(func)
