"""The engine's side of the gRPC layer: what an RPC's entry is, and how it is stored.

:class:`GrpcIo` is the :class:`hitbox.engine.Io` the interceptor's engine is built with.
An entry is a :class:`~hitbox.backend.CachedValue` holding the servicer's serialized
response, read and written through the engine's guard (timeout, circuit breaker, failure
log), classified by its times. A servicer's answer travels through the engine as a
:class:`Reply`; one with a non-OK status is refused by the policy's ``cacheable``
predicate (:func:`ok`), so the engine neither stores it nor hands it to waiting RPCs.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from typing import Any, NamedTuple, final

from hitbox.backend import BackendError, CachedValue, CorruptEntry, LockingBackend
from hitbox.engine import Call, Engine, State, classify

__all__ = ["GrpcIo", "Reply", "cache_key", "ok"]


class Reply(NamedTuple):
    """A servicer's answer: its serialized response, and whether its status was OK."""

    data: bytes
    ok: bool = True


def ok(reply: Reply) -> bool:
    """The ``cacheable`` predicate: only OK replies are stored and shared."""
    return reply.ok


def cache_key(method: str, payload: bytes, vary: Sequence[str | bytes] = ()) -> str:
    """The key of an RPC: its method, and a digest of its request bytes and ``vary`` values."""
    digest = hashlib.blake2b(payload, digest_size=16)
    for value in vary:  # length-prefixed: ("ab", "c") and ("a", "bc") differ
        raw = value.encode() if isinstance(value, str) else value
        digest.update(len(raw).to_bytes(4, "big") + raw)
    return f"grpc:{method}:{digest.hexdigest()}"


@final
class GrpcIo:
    """Entries of serialized responses, for an engine's machine.

    ``call.context`` is the interceptor's record of the RPC: :meth:`decode` marks it
    ``answered``, so a servicer call after that is the stale entry's background refresh.
    """

    def __init__(self, engine: Engine) -> None:
        self.guard, self.clock = engine.guard, engine.clock
        self.backend: Any = engine.backend  # its LockingBackend methods, where ``can_lock``
        self.can_lock = isinstance(engine.backend, LockingBackend)

    async def read(self, call: Call) -> CachedValue | None:
        """The entry under the key; the guard's ``BackendError`` makes the run ``ERROR``."""
        limit = call.policy.backend_timeout
        entry = await self.guard.call("get", call.key, self.backend.get, call.key, limit=limit)
        if entry is not None and type(entry) is not CachedValue:
            raise CorruptEntry(f"backend returned a {type(entry).__name__}, not a CachedValue")
        return entry

    def classify(self, entry: CachedValue | None, call: Call, now: float) -> State:
        """By the entry's times: ``HIT`` while fresh, ``STALE`` within ``max_stale``."""
        return classify(entry, now)

    def usable_on_error(self, entry: CachedValue, call: Call, now: float) -> bool:
        """Never: a servicer's failure is its caller's answer (no stale-if-error)."""
        return False

    def decode(self, entry: CachedValue, call: Call) -> Reply:
        """The stored response bytes; marks the RPC answered."""
        call.context.answered = True
        return Reply(entry.data)

    async def store(self, call: Call, value: Reply, created_at: float) -> bool:
        """Write the reply's bytes, fresh for ``ttl`` then stale for ``max_stale``."""
        policy = call.policy
        fresh_until = self.clock.now() + policy.ttl
        entry = CachedValue(value.data, created_at, fresh_until, fresh_until + policy.max_stale)
        args = (call.key, entry, policy.lifetime)
        try:
            await self.guard.call(
                "set", call.key, self.backend.set, *args, limit=policy.backend_timeout
            )
        except BackendError:  # counted and logged by the guard: fail open
            return False
        return True

    async def acquire_lock(self, call: Call) -> str | None:
        """The backend's lock on the key (``lock="distributed"``), leased ``lock_timeout``."""
        policy = call.policy
        args = (call.key, policy.lock_timeout)
        token = await self.guard.call(
            "acquire_lock", call.key, self.backend.acquire_lock, *args, limit=policy.backend_timeout
        )
        return None if token is None else str(token)

    async def release_lock(self, call: Call, token: str) -> None:
        """Release the lock; if that fails, its lease runs out by itself."""
        args = (call.key, token)
        with contextlib.suppress(BackendError):
            await self.guard.call("release_lock", call.key, self.backend.release_lock, *args)
