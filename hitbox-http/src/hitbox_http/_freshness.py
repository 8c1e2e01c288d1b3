"""Storability (RFC 9111 §3), freshness lifetime (§4.2.1, §4.2.2) and age (§4.2.3).

Pure functions of header fields, times and an :class:`HttpPolicy`; nothing here reads a
clock. Derived values of a stored response are computed once and kept in its ``memo``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, final

from hitbox_http._config import HttpPolicy
from hitbox_http._dates import parse_http_date
from hitbox_http._directives import MAX_DELTA_SECONDS, RequestDirectives, ResponseDirectives
from hitbox_http._fields import parse_age, parse_vary
from hitbox_http._headers import Headers
from hitbox_http._models import Request, StoredResponse
from hitbox_http._surrogate import acts_as_surrogate, outgoing_headers, surrogate_directives
from hitbox_http._targeted import targeted_directives

__all__ = [
    "UNDERSTOOD_STATUSES",
    "Assessment",
    "assess",
    "freshness_lifetime",
    "response_directives",
    "stale_prohibited",
    "unstorable_reason",
]

UNDERSTOOD_STATUSES: Final = frozenset(
    {200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501}
)
"""Final statuses whose caching semantics this cache implements (for ``must-understand``).

206 is absent on purpose: partial responses are never stored or combined.
"""

_ERROR_FREE_HEURISTIC_LIMIT: Final = 400


def response_directives(headers: Headers, policy: HttpPolicy) -> tuple[ResponseDirectives, bool]:
    """The directives that govern a response, and whether they came from a targeted field.

    A ``Surrogate-Control`` addressed to this cache (when it acts as a surrogate, see
    :mod:`hitbox_http._surrogate`) comes first; then, with ``policy.targeted_fields``
    set, the first valid targeted field (RFC 9213). Either replaces Cache-Control and
    Expires.
    """
    if acts_as_surrogate(policy):
        surrogate = surrogate_directives(headers, policy)
        if surrogate is not None:
            return surrogate, True
    if policy.targeted_fields:
        targeted = targeted_directives(headers, policy.targeted_fields)
        if targeted is not None:
            return targeted, True
    return ResponseDirectives.parse(headers.get_all("cache-control")), False


def unstorable_reason(
    request: Request,
    request_directives: RequestDirectives,
    status: int,
    headers: Headers,
    policy: HttpPolicy,
) -> str | None:
    """Why the response may not be stored, or ``None`` if it may (RFC 9111 §3).

    The reason is short and becomes the ``detail`` of ``Cache-Status``.
    """
    # §3: "the request method is understood by the cache" — GET only; HEAD is answered
    # from a stored GET, and responses to other methods are not reused by this cache.
    if request.method != "GET":
        return "method"
    # §5.2.1.5: "The no-store request directive indicates that a cache MUST NOT store any
    # part of either this request or any response to it."
    if request_directives.no_store:
        return "request-no-store"
    directives, targeted = response_directives(headers, policy)
    # §3: "the response status code is final" and "if the response status code is 206 or
    # 304, or the must-understand cache directive is present: the cache understands the
    # response status code".
    if status < 200 or status in (206, 304):
        return "status"
    if directives.must_understand:
        if status not in UNDERSTOOD_STATUSES:
            return "must-understand"
        # §5.2.2.3: "When a cache that implements the must-understand directive receives a
        # response that includes it, the cache SHOULD ignore the no-store directive if it
        # understands the status code."
    elif directives.no_store:
        # §3: "the no-store cache directive is not present in the response"
        return "no-store"
    if policy.shared:
        # §3: "if the cache is shared: the private response directive is either not
        # present or allows a shared cache to store a modified response"
        if directives.private:
            return "private"
        # §3.5: "A shared cache MUST NOT use a cached response to a request with an
        # Authorization header field to satisfy any subsequent request unless the
        # response contains a Cache-Control field with a response directive that allows
        # it to be stored by a shared cache ... must-revalidate, public, and s-maxage."
        if "authorization" in request.headers and not (
            directives.public or directives.must_revalidate or directives.s_maxage is not None
        ):
            return "authorization"
        # Not an RFC rule but a shared-cache safety default: a Set-Cookie is one user's.
        if "set-cookie" in headers and not policy.strip_set_cookie:
            return "set-cookie"
    # §4.1: "A stored response with a Vary header field value containing a member "*"
    # always fails to match" — storing it would only take space.
    if parse_vary(headers) == ("*",):
        return "vary-star"
    # §3: "the response contains at least one of the following: a public response
    # directive; a private response directive, if the cache is not shared; an Expires
    # header field; a max-age response directive; if the cache is shared: an s-maxage
    # response directive; ...; or a status code that is defined as heuristically
    # cacheable".
    if (
        directives.public
        or (directives.private and not policy.shared)
        or (not targeted and "expires" in headers)
        or directives.max_age is not None
        or (policy.shared and directives.s_maxage is not None)
        or status in policy.heuristic_statuses
    ):
        return None
    return "not-cacheable"


def freshness_lifetime(
    status: int,
    headers: Headers,
    directives: ResponseDirectives,
    targeted: bool,
    response_time: float,
    policy: HttpPolicy,
) -> float:
    """Seconds the response is fresh for (RFC 9111 §4.2.1), heuristics included (§4.2.2)."""
    # §4.2.1: "If the cache is shared and the s-maxage response directive is present, use
    # its value, or If the max-age response directive is present, use its value, or If
    # the Expires response header field is present, use its value minus the value of the
    # Date response header field (using the time the message was received if it is not
    # present ...), or Otherwise, no explicit expiration time is present in the response.
    # A heuristic freshness lifetime might be applicable".
    if policy.shared and directives.s_maxage is not None:
        return float(directives.s_maxage)
    if directives.max_age is not None:
        return float(directives.max_age)
    if not targeted:
        expires_lines = headers.get_all("expires")
        if expires_lines:
            # §5.3: "If a response includes a Cache-Control header field with the max-age
            # directive, a recipient MUST ignore the Expires header field." (handled above)
            # and "A cache recipient MUST interpret invalid date formats, especially the
            # value "0", as representing a time in the past (i.e., "already expired")."
            expires = {parse_http_date(line) for line in expires_lines}
            if len(expires) != 1 or None in expires:
                return 0.0
            (expires_at,) = expires
            assert expires_at is not None
            return max(0.0, expires_at - _date_value(headers, response_time))
    # §4.2.2: "A cache MUST NOT use heuristics to determine freshness when an explicit
    # expiration time is present in the stored response. ... heuristics can only be used
    # on responses without explicit freshness whose status codes are defined as
    # "heuristically cacheable" ... and on responses without explicit freshness that have
    # been marked as explicitly cacheable (e.g., with a public response directive)."
    heuristic = status in policy.heuristic_statuses or (
        directives.public and status < _ERROR_FREE_HEURISTIC_LIMIT
    )
    if not heuristic:
        return 0.0
    # §4.2.2: "If the response has a Last-Modified header field, caches are encouraged to
    # use a heuristic expiration value that is no more than some fraction of the interval
    # since that time. A typical setting of this fraction might be 10%."
    last_modified_line = headers.get("last-modified")
    last_modified = parse_http_date(last_modified_line) if last_modified_line else None
    if last_modified is None:
        return 0.0
    interval = _date_value(headers, response_time) - last_modified
    return min(max(0.0, interval * policy.heuristic_fraction), policy.heuristic_max)


def stale_prohibited(directives: ResponseDirectives, policy: HttpPolicy) -> bool:
    """Whether ``directives`` forbid serving the response stale, on any path.

    RFC 9111 §4.2.4: "A cache MUST NOT generate a stale response if it is prohibited by
    an explicit in-protocol directive (e.g., by a no-cache response directive, a
    must-revalidate response directive, or an applicable s-maxage or proxy-revalidate
    response directive; see Section 5.2.2)." ``proxy-revalidate`` and ``s-maxage``
    apply to shared caches only (§5.2.2.8, §5.2.2.10).
    """
    return (
        directives.no_cache
        or directives.must_revalidate
        or (policy.shared and (directives.proxy_revalidate or directives.s_maxage is not None))
    )


def _date_value(headers: Headers, response_time: float) -> float:
    date_line = headers.get("date")
    date = parse_http_date(date_line) if date_line else None
    return response_time if date is None else date


@final
@dataclass(frozen=True, slots=True)
class Assessment:
    """What a stored response allows, computed once: directives, lifetime, initial age."""

    directives: ResponseDirectives
    freshness_lifetime: float
    corrected_initial_age: float
    stale_forbidden: bool
    """Whether directives forbid serving the response stale (RFC 9111 §4.2.4)."""
    reuse_headers: Headers
    """The stored fields as sent on reuse without validation, before Age and
    Cache-Status: no ``Age`` (it is replaced) and no qualified ``no-cache`` fields
    (§5.2.2.4: they may only be reused after successful validation)."""

    def current_age(self, stored: StoredResponse, now: float) -> float:
        """RFC 9111 §4.2.3: ``current_age = corrected_initial_age + resident_time`` with
        ``resident_time = now - response_time``; capped at 2^31."""
        return min(
            self.corrected_initial_age + max(0.0, now - stored.response_time), MAX_DELTA_SECONDS
        )


def assess(stored: StoredResponse, policy: HttpPolicy) -> Assessment:
    """The :class:`Assessment` of ``stored`` under ``policy`` (memoised on the response)."""
    cached = stored.memo.get("assessment")
    if cached is not None and cached[0] is policy:
        assessment: Assessment = cached[1]
        return assessment
    directives, targeted = response_directives(stored.headers, policy)
    lifetime = freshness_lifetime(
        stored.status, stored.headers, directives, targeted, stored.response_time, policy
    )
    # §4.2.3: "apparent_age = max(0, response_time - date_value); response_delay =
    # response_time - request_time; corrected_age_value = age_value + response_delay;
    # corrected_initial_age = max(apparent_age, corrected_age_value);"
    date_value = _date_value(stored.headers, stored.response_time)
    apparent_age = max(0.0, stored.response_time - date_value)
    response_delay = max(0.0, stored.response_time - stored.request_time)
    corrected_age_value = parse_age(stored.headers) + response_delay
    stale_forbidden = stale_prohibited(directives, policy)
    reuse_headers = outgoing_headers(stored.headers, policy).without(
        "age", *directives.no_cache_fields
    )
    reuse_headers.raw()  # encode once; every reuse extends this encoding
    assessment = Assessment(
        directives,
        lifetime,
        max(apparent_age, corrected_age_value),
        stale_forbidden,
        reuse_headers,
    )
    stored.memo["assessment"] = (policy, assessment)
    return assessment
