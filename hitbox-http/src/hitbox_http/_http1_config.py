"""What hitbox's HTTP/1.1 server is given: :class:`ServerLimits` (what one client may
cost), :data:`AnswerNow` (the app's in-place answers), and what it keeps across
connections, :class:`ServerState`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, final

import hitbox

from hitbox_http._asgi import Scope
from hitbox_http._models import Response

if TYPE_CHECKING:
    from hitbox_http._http1_connection import Connection

__all__ = ["AnswerNow", "ServerLimits", "ServerState"]

logger = logging.getLogger("hitbox_http.server")

AnswerNow = Callable[[Scope], Response | None]
"""The response to a request when the app has it at hand (a fresh cache hit), else
``None``: such requests are answered in the parser's callback, without an ASGI task."""


@final
@dataclass(frozen=True, slots=True)
class ServerLimits:
    """What one client may cost the server (see the module doc)."""

    keep_alive_timeout: float = 5.0
    head_timeout: float = 10.0
    max_head_bytes: int = 32768
    max_fields: int = 100


@final
@dataclass(slots=True)
class ServerState:
    """What the server tracks across connections: to close them and await their tasks
    when it stops."""

    connections: set[Connection] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    warnings: hitbox.RateLimitedLogger = field(
        default_factory=lambda: hitbox.RateLimitedLogger(logger)
    )
    """Refusals are logged one line per minute per kind: clients choose how many."""
