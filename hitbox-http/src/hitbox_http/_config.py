"""The HTTP caching rules a deployment may tune: :class:`HttpPolicy`.

Shared-cache safety is not configurable here: ``Authorization``, ``private``,
``no-store`` and ``Vary: *`` are always honoured. What can be tuned is how much the cache
guesses (heuristic freshness), how much it keeps (variants, body size), and which
extensions it listens to (``CDN-Cache-Control``).
"""

from __future__ import annotations

import re
from typing import Any, final

import hitbox
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "DEFAULT_HEURISTIC_STATUSES",
    "DEFAULT_UNKEYED_HEADERS",
    "METHOD_OVERRIDE_HEADERS",
    "HttpPolicy",
]

DEFAULT_HEURISTIC_STATUSES = frozenset({200, 203, 204, 300, 301, 308})
"""Statuses that get heuristic freshness when the origin gives none.

RFC 9110 §15.1 also lists 206, 404, 405, 410, 414 and 501. 206 is left out because
partial content is not stored; the error statuses because guessing a lifetime for an
error keeps a transient failure around (the origin can still cache them explicitly).
"""

DEFAULT_UNKEYED_HEADERS = (
    "forwarded",
    "x-forwarded-host",
    "x-forwarded-server",
    "x-forwarded-scheme",
    "x-host",
    "x-original-url",
    "x-rewrite-url",
)
"""Request fields an application might route on although the cache key does not include
them. They are treated as if every response varied on them, so a request carrying an
attacker's value can only ever receive the response to that same value."""

METHOD_OVERRIDE_HEADERS = ("x-http-method-override", "x-http-method", "x-method-override")
"""Request fields that make the cache step aside: with them an application may act on
another method than the one the cache sees."""
_TOKEN = re.compile(r"[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]*")


@final
class HttpPolicy(BaseModel):
    """How the HTTP layer applies RFC 9111.

    Example::

        policy = HttpPolicy(targeted_fields=("cdn-cache-control",), max_variants=4)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    shared: bool = True
    """A shared cache (proxy, middleware) or a private one (a client's own cache).
    A private cache may store ``private`` responses and ignores ``s-maxage``."""

    cache_name: str = "hitbox"
    """This cache's name in ``Cache-Status`` (RFC 9211); an sf-token."""

    heuristic_fraction: float = Field(default=0.1, ge=0, le=1)
    """Fraction of ``Date - Last-Modified`` used as freshness when none is given."""

    heuristic_max: hitbox.Duration = Field(default=86400.0, ge=0)
    """Upper bound (seconds) of a heuristic freshness lifetime."""

    heuristic_statuses: frozenset[int] = DEFAULT_HEURISTIC_STATUSES
    """Statuses that may get heuristic freshness (see :data:`DEFAULT_HEURISTIC_STATUSES`)."""

    max_variants: int = Field(default=8, ge=1, le=1024)
    """Variants (``Vary``) kept per URL; the least recently stored is dropped first."""

    max_body_size: int = Field(default=8 * 1024 * 1024, ge=0)
    """Responses with longer bodies pass through without being stored."""

    max_key_length: int = Field(default=512, ge=64)
    """URLs longer than this are keyed by their SHA-256 digest."""

    strip_set_cookie: bool = False
    """Store responses carrying ``Set-Cookie`` with that field removed (the client that
    caused the store still receives it). Off by default: such responses are not stored."""

    targeted_fields: tuple[str, ...] = ()
    """Targeted cache-control fields (RFC 9213), most specific first, e.g.
    ``("hitbox-cache-control", "cdn-cache-control")``. Empty: Cache-Control only."""

    surrogate_control: bool = True
    """Act as the origin's surrogate (W3C Edge Architecture): a ``Surrogate-Control``
    field addressed to this cache takes precedence over ``Cache-Control`` and
    ``Expires`` for storage and freshness, and is removed from every response sent.
    Shared caches only; ``private`` in ``Cache-Control`` is still honoured."""

    honor_request_no_cache: bool = True
    """Whether a client's ``no-cache`` / ``max-age=0`` forces revalidation. A gateway
    that protects its origin may turn this off (it acts for the origin, RFC 9111 §1)."""

    stale_if_error: hitbox.Duration = Field(default=0.0, ge=0)
    """Seconds a stale response may be served when the origin fails, when the origin did
    not say otherwise (an out-of-band contract, RFC 9111 §4.2.4). Never overrides
    ``must-revalidate``, ``no-cache`` or ``s-maxage``."""

    validation_window: hitbox.Duration = Field(default=3600.0, ge=0)
    """Seconds a stale response that has a validator (``ETag``, ``Last-Modified``) is
    kept, so it can be revalidated with a conditional request instead of fetched again."""

    unkeyed_headers: tuple[str, ...] = DEFAULT_UNKEYED_HEADERS
    """Request fields treated as implicit ``Vary`` (see :data:`DEFAULT_UNKEYED_HEADERS`)."""

    @field_validator("cache_name")
    @classmethod
    def _sf_token(cls, value: str) -> str:
        if not _TOKEN.fullmatch(value):
            raise ValueError("must be a token: a letter or '*', then token characters")
        return value

    @field_validator("targeted_fields", "unkeyed_headers")
    @classmethod
    def _field_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"{name!r} is not a header field name")
        return tuple(name.lower() for name in value)

    @property
    def bypass_headers(self) -> tuple[str, ...]:
        """Request fields that make the cache step aside (method overrides)."""
        return METHOD_OVERRIDE_HEADERS

    @classmethod
    def validated(cls, data: Any) -> HttpPolicy:
        """A policy from a mapping; invalid input raises :class:`hitbox.ConfigError`."""
        if isinstance(data, HttpPolicy):
            return data
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            name = ".".join(str(part) for part in error["loc"])
            value = error.get("input")
            if error["type"] == "extra_forbidden":
                message = f"http.{name}: unknown setting (known: {', '.join(cls.model_fields)})"
            else:
                message = f"http.{name}: {error['msg']} (got {value!r})"
            raise hitbox.ConfigError(message, field=f"http.{name}", value=value) from None
