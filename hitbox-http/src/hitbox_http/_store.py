"""Stored responses in a :class:`hitbox.Backend`: lookup by URL and Vary, store, invalidate.

Under a URL's primary key lives either one response record (responses without
``Vary``: one backend read per hit) or a variant index listing the secondary keys of up
to ``max_variants`` variants (two reads per hit). The index is updated read-modify-write;
two processes storing different variants at once may drop one from the index, which
costs a later miss, never a wrong answer — a variant is always re-checked against the
request before it is used.

Fail open: every backend call goes through the engine's :class:`hitbox.engine.Guard` —
the same timeout, circuit breaker and rate-limited failure log as every other cache — so
an error, timeout or corrupt entry counts as "nothing stored" and callers never see it,
and once the breaker is open requests stop paying the backend's timeout. Warnings never
carry the key (it holds the request's URL and query string); the key of a corrupt entry
is logged at DEBUG level.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar, final

import hitbox
from hitbox.backend import NOT_LOCAL, LocalReads, SyncReads
from hitbox.engine import Guard

from hitbox_http._config import HttpPolicy
from hitbox_http._decoded_copies import DecodedCopies
from hitbox_http._headers import Headers
from hitbox_http._keys import primary_key, selecting_values, variant_key
from hitbox_http._models import Request, StoredResponse
from hitbox_http._record import (
    Variant,
    VariantIndex,
    decode_entry,
    encode_index,
    encode_response,
)
from hitbox_http._storing import entry_times

__all__ = ["HttpStore", "Lookup"]

logger = logging.getLogger("hitbox_http")
T = TypeVar("T")

_EMPTY_HEADERS = Headers()

_Read = tuple[StoredResponse | VariantIndex, float] | None
"""A decoded entry and its ``stale_until``, or ``None`` (absent, unreadable)."""


@final
@dataclass(slots=True)
class Lookup:
    """What a lookup found for one request: its primary key and matching responses.

    ``found_any`` tells a URI miss from a Vary miss; ``index`` is the variant index read
    (so a later store can update it without reading it again); ``failed`` says a read
    failed (the backend did not answer, or its breaker is open). ``reads`` are the keys
    :meth:`HttpStore.lookup_now` read and the entries it found there.
    """

    key: str
    responses: list[StoredResponse] = field(default_factory=list)
    found_any: bool = False
    index: VariantIndex | None = None
    failed: bool = False
    reads: list[tuple[str, hitbox.CachedValue | None]] = field(default_factory=list)


@final
class HttpStore:
    """HTTP responses kept in a hitbox backend, under keys derived from the request.

    Every backend call goes through ``guard`` (the engine's), which counts, logs and
    skips failures.
    """

    __slots__ = ("_copies", "_make_key", "_read_now", "backend", "clock", "guard", "policy")

    def __init__(
        self, guard: Guard, policy: HttpPolicy, *, make_key: Callable[[str], str] | None = None
    ) -> None:
        self._make_key = make_key
        self.guard = guard
        self.backend = guard.backend
        self.policy = policy
        self.clock = guard.clock
        backend = self.backend
        # What lookup_now reads with: an entry, None, or NOT_LOCAL ("ask get()").
        self._read_now: Callable[[str], Any] | None = None
        if not backend.stores_objects:
            pass  # every entry would need decoding: the async path does that
        elif isinstance(backend, LocalReads) and getattr(backend, "local_reads", True):
            self._read_now = backend.read_local
        elif (
            backend.is_local
            and isinstance(backend, SyncReads)
            and getattr(backend, "sync_reads", True)
        ):
            self._read_now = backend.get_sync
        self._copies = DecodedCopies()

    def key_for(self, url: str, headers: Headers) -> str:
        """The primary key of ``url`` for a request carrying ``headers``, namespaced by
        ``make_key`` (the :class:`hitbox.Cache`'s key strategy) when given."""
        key = primary_key(
            url,
            headers,
            unkeyed_headers=self.policy.unkeyed_headers,
            max_length=self.policy.max_key_length,
        )
        return key if self._make_key is None else self._make_key(key)

    async def _call(
        self, operation: str, key: str, method: Callable[..., Awaitable[T]], *args: Any
    ) -> tuple[bool, T | None]:
        """``(succeeded, result)`` of one guarded backend operation."""
        try:
            return True, await self.guard.call(operation, key, method, key, *args)
        except hitbox.BackendError as exc:
            logger.debug("backend %s of %r failed: %s", operation, key, exc)
            return False, None
        except hitbox.CorruptEntry as exc:  # the backend answered with something unusable
            self._corrupt(key, exc)
            return True, None

    def _corrupt(self, key: str, exc: hitbox.CorruptEntry) -> None:
        self.guard.counters.errors += 1
        self.guard.counters.corrupt += 1
        logger.debug("corrupt entry %r: %s", key, exc)
        self.guard.log.warn("corrupt", f"ignoring a corrupt stored response: {exc}")

    async def _read(self, key: str) -> _Read:
        _, entry = await self._call("get", key, self.backend.get)
        return self._decoded(key, entry)

    def _decoded(self, key: str, entry: hitbox.CachedValue | None) -> _Read:
        if entry is None:
            return None
        decoded = entry.value
        if not isinstance(decoded, (StoredResponse, VariantIndex)):
            try:
                decoded = decode_entry(entry.data)
            except hitbox.CorruptEntry as exc:
                self._corrupt(key, exc)
                return None
            if self._read_now is not None:  # bytes in an object-mode store: a refilled L1
                self._copies.keep(key, entry, decoded)
        return decoded, entry.stale_until

    def _walk(self, request: Request) -> Generator[str, _Read, Lookup]:
        """The lookup of ``request``: yields each key to read and is sent what was
        read there; returns the :class:`Lookup`. One walk for both ways of reading."""
        found = Lookup(self.key_for(request.url, request.headers))
        read = yield found.key
        if read is None:
            return found
        entry, _ = read
        found.found_any = True
        if isinstance(entry, StoredResponse):
            found.responses.append(entry)
            return found
        found.index = entry
        listed = {variant.key for variant in entry.variants}
        seen: set[tuple[str, ...]] = set()
        for variant in entry.variants:
            if variant.names in seen:
                continue
            seen.add(variant.names)
            wanted = variant_key(found.key, selecting_values(request.headers, variant.names))
            if wanted not in listed:
                continue
            stored = yield wanted
            if stored is not None and isinstance(stored[0], StoredResponse):
                found.responses.append(stored[0])
        return found

    async def lookup(self, request: Request) -> Lookup:
        """The stored responses for ``request``'s URI whose Vary values match it."""
        walk = self._walk(request)
        failed = False
        try:
            key = next(walk)
            while True:
                succeeded, entry = await self._call("get", key, self.backend.get)
                failed = failed or not succeeded
                key = walk.send(self._decoded(key, entry))
        except StopIteration as done:
            found: Lookup = done.value
        found.failed = failed
        return found

    def lookup_now(self, request: Request) -> Lookup | None:
        """:meth:`lookup` without waiting, through the backend's ``read_local``
        (:class:`hitbox.backend.LocalReads`; ``get_sync`` for another in-process
        backend) when it can read so (``can_look_up_now``) and is healthy; ``None`` when
        it cannot answer so (an entry not known locally, bytes not decoded before, a
        failure, an open breaker), leaving the lookup to :meth:`lookup`."""
        guard = self.guard
        if guard.breaker.tripped or self._read_now is None:
            return None
        read_now = self._read_now
        walk = self._walk(request)
        reads = []
        try:
            key = next(walk)
            while True:
                entry = read_now(key)
                if entry is NOT_LOCAL:
                    return None  # get() must decide (and will make it known locally)
                reads.append((key, entry))
                if entry is None:
                    key = walk.send(None)
                    continue
                decoded = entry.value
                if not isinstance(decoded, (StoredResponse, VariantIndex)):
                    decoded = self._copies.find(key, entry)
                    if decoded is None:
                        return None  # bytes to decode: the async path judges them
                key = walk.send((decoded, entry.stale_until))
        except StopIteration as done:
            found: Lookup = done.value
            found.reads = reads
            return found
        except Exception:
            return None

    def unchanged(self, reads: list[tuple[str, hitbox.CachedValue | None]]) -> bool:
        """Whether each key of ``reads`` (a :meth:`lookup_now`'s) still holds the very
        entry read there: then a lookup now would find what that one found."""
        read_now = self._read_now
        if read_now is None or self.guard.breaker.tripped:
            return False
        try:
            return all(read_now(key) is entry for key, entry in reads)
        except Exception:
            return False

    @property
    def can_look_up_now(self) -> bool:
        """Whether :meth:`lookup_now` may answer: an object-mode backend with local reads
        (the memory backend; a tiered backend with a memory L1), or an in-process one
        with thread-safe synchronous reads."""
        return self._read_now is not None

    def _value(self, stored: StoredResponse) -> tuple[hitbox.CachedValue, float]:
        fresh_until, stale_until = entry_times(stored, self.policy)
        value = hitbox.CachedValue(
            encode_response(stored),
            stored.response_time,
            fresh_until,
            stale_until,
            value=stored if self.backend.stores_objects else hitbox.NO_VALUE,
        )
        return value, stale_until - self.clock.now()

    async def store(self, lookup: Lookup, stored: StoredResponse) -> bool:
        """Store ``stored`` (found by ``lookup``'s request); whether it was written."""
        value, ttl = self._value(stored)
        if ttl <= 0:
            return False
        if not stored.vary:
            if lookup.index is not None:
                await self._delete_variants(lookup.index.variants)
                lookup.index = None
            written, _ = await self._call("set", lookup.key, self.backend.set, value, ttl)
            return written
        key = variant_key(lookup.key, stored.vary)
        written, _ = await self._call("set", key, self.backend.set, value, ttl)
        if not written:
            return False
        now = self.clock.now()
        names = tuple(name for name, _ in stored.vary)
        previous = lookup.index.variants if lookup.index is not None else ()
        variants = [Variant(key, names, now), *(v for v in previous if v.key != key)]
        evicted = variants[self.policy.max_variants :]
        if evicted:
            await self._delete_variants(evicted)
        index = VariantIndex(tuple(variants[: self.policy.max_variants]))
        lookup.index = index
        # The index lives as long as the longest-lived variant it may list.
        index_ttl = max(ttl, self.policy.validation_window, 60.0)
        entry = hitbox.CachedValue(
            encode_index(index),
            now,
            now + index_ttl,
            now + index_ttl,
            value=index if self.backend.stores_objects else hitbox.NO_VALUE,
        )
        written, _ = await self._call("set", lookup.key, self.backend.set, entry, index_ttl)
        return written

    async def acquire_lock(self, key: str, lease: float) -> str | None:
        """A lease lock on ``key`` across processes (the backend must be a
        :class:`hitbox.LockingBackend`); raises :class:`hitbox.BackendError` if the
        backend failed, so the caller goes to the origin instead of waiting."""
        backend: Any = self.backend
        succeeded, token = await self._call("acquire_lock", key, backend.acquire_lock, lease)
        if not succeeded:
            raise hitbox.BackendError("acquiring the lock failed")
        return None if token is None else str(token)

    async def release_lock(self, key: str, token: str) -> None:
        """Release a lock taken with ``token``; a failure only lets the lease run out."""
        backend: Any = self.backend
        await self._call("release_lock", key, backend.release_lock, token)

    async def _delete_variants(self, variants: tuple[Variant, ...] | list[Variant]) -> None:
        for variant in variants:
            await self._call("delete", variant.key, self.backend.delete)

    async def invalidate(self, url: str, headers: Headers = _EMPTY_HEADERS) -> None:
        """Drop every stored response of ``url``: all variants, under the plain key and
        under the key a request with ``headers`` (its unkeyed fields) would use."""
        keys = {self.key_for(url, _EMPTY_HEADERS), self.key_for(url, headers)}
        for key in keys:
            read = await self._read(key)
            if read is not None and isinstance(read[0], VariantIndex):
                await self._delete_variants(read[0].variants)
            await self._call("delete", key, self.backend.delete)
