"""The ``Cache-Status`` response field (RFC 9211): what this cache did with a request.

RFC 9211 §2: "The Cache-Status HTTP response header field indicates caches' handling of
the request corresponding to the response it occurs within." Each cache appends one list
member named after itself, with parameters such as ``hit``, ``fwd``, ``fwd-status``,
``ttl``, ``stored``, ``collapsed`` and ``detail``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, final

from hitbox_http._headers import Headers

__all__ = ["CacheStatus", "Forwarded"]

Forwarded = Literal["bypass", "method", "uri-miss", "vary-miss", "miss", "request", "stale"]
"""RFC 9211 §2.2 values of ``fwd``: why the request went to the next hop."""

_MAX_TTL: Final = 2**31


@final
@dataclass(frozen=True, slots=True)
class CacheStatus:
    """One ``Cache-Status`` member.

    Example::

        str(CacheStatus("hitbox", hit=True, ttl=42))  # 'hitbox; hit; ttl=42'
        str(CacheStatus("hitbox", fwd="uri-miss", stored=True))  # '...; fwd=uri-miss; stored'
    """

    name: str
    hit: bool = False
    fwd: Forwarded | None = None
    fwd_status: int | None = None
    ttl: float | None = None
    stored: bool = False
    collapsed: bool = False
    detail: str | None = None

    def __str__(self) -> str:
        parts = [self.name]
        if self.hit:
            # §2.1: "hit: ... the request was satisfied by the cache; that is, it was not
            # forwarded, and the response was obtained from the cache."
            parts.append("hit")
        if self.fwd is not None:
            parts.append(f"fwd={self.fwd}")
        if self.fwd_status is not None:
            parts.append(f"fwd-status={self.fwd_status}")
        if self.ttl is not None:
            # §2.5: "ttl ... The value is an Integer ... A negative value indicates that
            # the response is stale." Rounded down so a fresh response never shows 0+.
            ttl = max(-_MAX_TTL, min(_MAX_TTL, int(self.ttl // 1)))
            parts.append(f"ttl={ttl}")
        if self.stored:
            parts.append("stored")
        if self.collapsed:
            parts.append("collapsed")
        if self.detail:
            parts.append(f"detail={_detail(self.detail)}")
        return "; ".join(parts)

    def apply(self, headers: Headers) -> Headers:
        """``headers`` with this member appended to any ``Cache-Status`` already there.

        RFC 9211 §2: "When adding a value to the Cache-Status header field, caches SHOULD
        preserve the existing field value, to allow debugging of the entire system."
        """
        existing = headers.get_all("cache-status")
        if not existing:
            return headers.add("cache-status", str(self))
        return headers.set("cache-status", ", ".join([*existing, str(self)]))


def _detail(value: str) -> str:
    if (
        value
        and (value[0].isalpha() or value[0] == "*")
        and all(char.isalnum() or char in "!#$%&'*+-.^_`|~:/" for char in value)
    ):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
