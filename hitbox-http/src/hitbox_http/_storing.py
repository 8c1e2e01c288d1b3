"""What a stored response keeps (RFC 9111 §3.1) and how long the backend keeps it.

:func:`stored_template` decides storability and builds the record without a body (the
body arrives later, streamed); :func:`storage_ttl` turns RFC freshness into the
lifetime the backend is given.
"""

from __future__ import annotations

from typing import Final

from hitbox_http._config import HttpPolicy
from hitbox_http._directives import RequestDirectives
from hitbox_http._fields import parse_vary
from hitbox_http._freshness import assess, response_directives, unstorable_reason
from hitbox_http._headers import Headers
from hitbox_http._keys import normalize_url, selecting_values
from hitbox_http._models import Request, StoredResponse
from hitbox_http._validation import has_validator

__all__ = ["HOP_BY_HOP", "entry_times", "storage_ttl", "stored_template", "strip_hop_by_hop"]

HOP_BY_HOP: Final = (
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
)
"""RFC 9110 §7.6.1 fields that describe one connection, never the message."""

# RFC 9111 §3.1: "Header fields that are specific to the proxy that a cache uses when
# forwarding a request MUST NOT be stored, unless the cache incorporates the identity of
# that proxy into the cache key. Effectively, this is limited to Proxy-Authenticate ...,
# Proxy-Authentication-Info ..., and Proxy-Authorization".
_PROXY_SPECIFIC: Final = ("proxy-authenticate", "proxy-authentication-info", "proxy-authorization")


def strip_hop_by_hop(headers: Headers) -> Headers:
    """``headers`` without hop-by-hop fields, including those ``Connection`` lists.

    RFC 9110 §7.6.1: "Intermediaries MUST parse a received Connection header field before
    a message is forwarded and, for each connection-option in this field, remove any
    header or trailer field(s) from the message with the same name as the
    connection-option, and then remove the Connection header field itself".
    """
    listed = [option.lower() for option in headers.get_list("connection")]
    return headers.without(*HOP_BY_HOP, *listed)


def stored_template(
    request: Request,
    request_directives: RequestDirectives,
    status: int,
    headers: Headers,
    request_time: float,
    response_time: float,
    policy: HttpPolicy,
) -> tuple[StoredResponse | None, str | None]:
    """The record to store (its body still empty), or ``None`` and the reason why not."""
    reason = unstorable_reason(request, request_directives, status, headers, policy)
    if reason is not None:
        return None, reason
    directives, _ = response_directives(headers, policy)
    # RFC 9111 §3.1: "The no-cache ... and private ... cache directives can have arguments
    # that prevent storage of header fields by all caches and shared caches, respectively."
    dropped = [*_PROXY_SPECIFIC, *directives.no_cache_fields]
    if policy.shared:
        dropped.extend(directives.private_fields)
        if policy.strip_set_cookie:
            dropped.extend(("set-cookie", "set-cookie2"))
    kept = strip_hop_by_hop(headers).without(*dropped)
    vary = selecting_values(request.headers, parse_vary(headers))
    stored = StoredResponse(
        status, kept, b"", request_time, response_time, normalize_url(request.url), vary
    )
    if storage_ttl(stored, policy, response_time) <= 0:
        return None, "stale-on-arrival"
    return stored, None


def entry_times(stored: StoredResponse, policy: HttpPolicy) -> tuple[float, float]:
    """``(fresh_until, stale_until)`` in clock time, for the backend's entry metadata.

    ``stale_until`` is as long as the response can be of any use: served stale
    (``stale-while-revalidate``, ``stale-if-error``) or revalidated (when it has a
    validator, for ``policy.validation_window`` seconds).
    """
    assessment = assess(stored, policy)
    fresh_until = (
        stored.response_time + assessment.freshness_lifetime - assessment.corrected_initial_age
    )
    usable_stale = 0.0
    if not assessment.stale_forbidden:
        usable_stale = max(
            assessment.directives.stale_while_revalidate or 0,
            assessment.directives.stale_if_error or 0,
            policy.stale_if_error,
        )
    if has_validator(stored):
        usable_stale = max(usable_stale, policy.validation_window)
    return fresh_until, max(fresh_until, stored.response_time) + usable_stale


def storage_ttl(stored: StoredResponse, policy: HttpPolicy, now: float) -> float:
    """Seconds the backend keeps ``stored`` from ``now``; ``<= 0`` means do not store."""
    _, stale_until = entry_times(stored, policy)
    return stale_until - now
