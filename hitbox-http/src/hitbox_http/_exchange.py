"""What passes through the HTTP cache for one request: :class:`Exchange` (the request,
what was found and decided), :data:`Origin` (an integration's way upstream),
:class:`ReusableHit` (a hit served in place, and for how long it stays the answer) and
:class:`UpstreamError`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import final

import hitbox
from hitbox.engine import Flight

from hitbox_http._answer import Answer
from hitbox_http._decisions import Forward, Hit
from hitbox_http._models import Request
from hitbox_http._store import Lookup

__all__ = ["Exchange", "Origin", "ReusableHit", "UpstreamError"]


class UpstreamError(hitbox.HitboxError):
    """The origin could not be reached or did not answer in time, and nothing stale could
    be served instead. ``timeout`` tells a 504 from a 502."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


@final
class Exchange:
    """One request passing through the cache: what was found for it and decided.

    ``lookup`` is ``None`` for requests the cache does not look up (unsafe methods).
    ``flight`` is the single-flight this request leads while it asks the origin, if any.
    """

    __slots__ = ("decision", "failed_read", "flight", "lookup", "request")

    def __init__(self, request: Request, decision: Hit | Forward, lookup: Lookup | None) -> None:
        self.request = request
        self.decision = decision
        self.lookup = lookup
        self.flight: Flight | None = None
        self.failed_read = lookup is not None and lookup.failed

    @property
    def forward(self) -> Forward:
        """The request to send upstream (only valid when the decision is a forward)."""
        assert isinstance(self.decision, Forward)
        return self.decision


@final
@dataclass(frozen=True, slots=True)
class ReusableHit:
    """A fresh hit served without waiting (:meth:`HttpCache.serve_now`): its ``answer``,
    and the window (``since`` to ``until``, clock time) in which the same request gets
    the same answer again from the same entries (:meth:`HttpCache.serve_again`)."""

    answer: Answer
    exchange: Exchange
    since: float
    until: float


Origin = Callable[[Exchange, bool], Awaitable[Answer]]
"""An integration's way to the origin: ``origin(exchange, background)`` sends
``exchange.forward.request`` (again, for ``plan.retry``), plans the response with
:meth:`HttpCache.plan` and answers with :meth:`HttpCache.answer`. ``background`` is true
for a stale-while-revalidate revalidation: no client waits, so buffer, send nothing."""
