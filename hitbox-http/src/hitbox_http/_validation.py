"""Validation (RFC 9111 §4.3) and invalidation (§4.4), as pure functions.

- the conditional request a cache sends to validate what it stored (§4.3.1);
- which stored responses a 304 freshens, and how (§4.3.4, §3.2);
- answering a client's own conditional request from a stored response (§4.3.2);
- which URIs an unsafe request invalidates (§4.4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final
from urllib.parse import urljoin

from hitbox_http._dates import parse_http_date
from hitbox_http._fields import EntityTag, parse_entity_tag, parse_entity_tag_list, weak_match
from hitbox_http._headers import Headers
from hitbox_http._keys import normalize_url, origin_of
from hitbox_http._models import Request, StoredResponse

__all__ = [
    "CLIENT_VALIDATORS",
    "SAFE_METHODS",
    "client_condition_met",
    "conditional_request",
    "freshen",
    "has_validator",
    "invalidated_urls",
    "not_modified_headers",
    "select_for_update",
]

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
"""RFC 9110 §9.2.1 safe methods; every other method, known or not, is treated as unsafe."""

CLIENT_VALIDATORS: Final = ("if-none-match", "if-modified-since")
"""Client preconditions the cache answers itself from a stored response."""

# RFC 9111 §3.2: the cache MUST add each header field in the provided response to the
# stored response, "with the following exceptions: ... Header fields that the cache's
# stored response depends upon ... The Content-Length header field." and "Caches in this
# situation MAY omit these header fields from updating stored responses on an
# exceptional basis but SHOULD limit such omission to those fields necessary to assure
# integrity of the stored response." The stored bytes depend on their content coding,
# their range, their length and their digests; the ETag identifies exactly them (a weak
# 304 must not relabel a strong one). Hop-by-hop fields never describe the stored
# representation either.
_NOT_FRESHENED: Final = (
    "content-encoding",
    "content-range",
    "content-length",
    "content-md5",
    "digest",
    "content-digest",
    "repr-digest",
    "etag",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authenticate",
    "proxy-authentication-info",
    "proxy-authorization",
)

# RFC 9110 §15.4.5: "The server generating a 304 response MUST generate any of the
# following header fields that would have been sent in a 200 (OK) response to the same
# request: Content-Location, Date, ETag, and Vary; Cache-Control and Expires".
# Last-Modified is kept for clients that validate by date; Age and Cache-Status describe
# the reuse itself.
_NOT_MODIFIED_FIELDS: Final = frozenset(
    {
        "cache-control",
        "content-location",
        "date",
        "etag",
        "expires",
        "vary",
        "last-modified",
        "age",
        "cache-status",
    }
)


def _etag(stored: StoredResponse) -> EntityTag | None:
    return parse_entity_tag(stored.headers.get("etag"))


def conditional_request(request: Request, stored: Sequence[StoredResponse]) -> Request:
    """The request the cache sends to validate ``stored`` (all for ``request``'s URI).

    RFC 9111 §4.3.1: a cache "MUST send the relevant entity tags (using If-Match,
    If-None-Match, or If-Range) if the entity tags were provided in the stored response(s)
    being validated" and "SHOULD send the Last-Modified value (using If-Modified-Since) if
    the request is not for a subrange, a single stored response is being validated, and
    that response contains a Last-Modified value."
    The client's own If-None-Match / If-Modified-Since are replaced: the cache answers
    them itself once it knows which representation is current.
    """
    headers = request.headers.without(*CLIENT_VALIDATORS)
    tags: list[str] = []
    for response in stored:
        tag = _etag(response)
        if tag is not None and str(tag) not in tags:
            tags.append(str(tag))
    if tags:
        headers = headers.add("if-none-match", ", ".join(tags))
    if len(stored) == 1:
        last_modified = stored[0].headers.get("last-modified")
        if last_modified is not None and parse_http_date(last_modified) is not None:
            headers = headers.add("if-modified-since", last_modified)
    return request.with_headers(headers)


def has_validator(stored: StoredResponse) -> bool:
    """Whether a conditional request can validate ``stored`` (ETag or Last-Modified)."""
    return _etag(stored) is not None or "last-modified" in stored.headers


def select_for_update(
    stored: Sequence[StoredResponse], not_modified: Headers
) -> list[StoredResponse]:
    """The stored responses a 304 identifies for update (RFC 9111 §4.3.4).

    ``stored`` is ordered most recent first.
    """
    new_tag = parse_entity_tag(not_modified.get("etag"))
    if new_tag is not None and not new_tag.weak:
        # "If the new response contains one or more strong validators ..., then each of
        # those strong validators identifies a selected representation for update. All
        # the stored responses that match one of those strong validators are identified
        # for update. If none of the stored responses contain at least one of the same
        # strong validators, then the cache MUST NOT use the new response to update any
        # stored responses."
        return [response for response in stored if _strong_equal(_etag(response), new_tag)]
    last_modified = not_modified.get("last-modified")
    if new_tag is not None or last_modified is not None:
        # "If the new response contains no strong validators but does contain one or more
        # weak validators, and those validators correspond to one of the cache's stored
        # responses, then the most recent of those matching stored responses is
        # identified for update."
        for response in stored:
            if new_tag is not None and weak_match(_etag(response), new_tag):
                return [response]
            if new_tag is None and response.headers.get("last-modified") == last_modified:
                return [response]
        return []
    # "If the new response does not include any form of validator (such as where a client
    # generates an If-Modified-Since request from a source other than the Last-Modified
    # response header field), and there is only one stored response, and that stored
    # response also lacks a validator, then that stored response is identified for
    # update."
    if len(stored) == 1 and not has_validator(stored[0]):
        return [stored[0]]
    # Not in the list above, deliberately: origins often omit validators from a 304
    # (against RFC 9110 §15.4.5). When the conditional request named the validators of
    # exactly one stored response, a validator-less 304 can only refer to that response;
    # refetching it in full would punish the common case for no safety gain.
    if len(stored) == 1:
        return [stored[0]]
    return []


def _strong_equal(first: EntityTag | None, second: EntityTag) -> bool:
    return first is not None and not first.weak and first.opaque == second.opaque


def freshen(
    stored: StoredResponse, not_modified: Headers, request_time: float, response_time: float
) -> StoredResponse:
    """``stored`` updated by a 304 received at ``response_time`` (RFC 9111 §4.3.4, §3.2).

    §4.3.4: "For each stored response identified, the cache MUST update its header fields
    with the header fields provided in the 304 (Not Modified) response, as per
    Section 3.2." The request/response times become those of the validation, so the age
    starts again from the 304's ``Date`` and ``Age``.
    """
    headers = stored.headers.updated(not_modified.without(*_NOT_FRESHENED))
    if "age" not in not_modified:
        headers = headers.without("age")
    return stored.replace(headers=headers, request_time=request_time, response_time=response_time)


def client_condition_met(request: Request, response_headers: Headers, response_time: float) -> bool:
    """Whether the client's If-None-Match / If-Modified-Since says "not modified".

    RFC 9111 §4.3.2: "A request containing an If-None-Match header field ... indicates that
    the client wants to validate one or more of its own stored responses in comparison to
    the stored response chosen by the cache" and "If an If-None-Match header field is not
    present, a request containing an If-Modified-Since header field ... indicates that the
    client wants to validate one or more of its own stored responses by modification
    date." and "If a request contains an If-Modified-Since header field and the
    Last-Modified header field is not present in a stored response, a cache SHOULD use the
    stored response's Date field value (or, if no Date field is present, the time that the
    stored response was received) to evaluate the conditional."
    """
    if request.method not in ("GET", "HEAD"):
        return False
    if_none_match = request.headers.get_all("if-none-match")
    if if_none_match:
        tags = parse_entity_tag_list(if_none_match)
        current = parse_entity_tag(response_headers.get("etag"))
        if tags is None:  # "*"
            return True
        # RFC 9110 §13.1.2: "A recipient MUST use the weak comparison function when
        # comparing entity tags for If-None-Match".
        return any(weak_match(tag, current) for tag in tags)
    if_modified_since = request.headers.get("if-modified-since")
    if if_modified_since is None:
        return False
    since = parse_http_date(if_modified_since)
    if since is None:
        return False  # RFC 9110 §13.1.3: an invalid date means the field is ignored
    validator = response_headers.get("last-modified") or response_headers.get("date")
    modified = parse_http_date(validator) if validator else None
    return (response_time if modified is None else modified) <= since


def not_modified_headers(headers: Headers) -> Headers:
    """The subset of a 200's fields that a 304 in its place carries."""
    return headers.only(*_NOT_MODIFIED_FIELDS)


def invalidated_urls(request: Request, status: int, response_headers: Headers) -> tuple[str, ...]:
    """The URIs an unsafe request's response invalidates (RFC 9111 §4.4).

    "A cache MUST invalidate the target URI ... when it receives a non-error status code
    in response to an unsafe request method (including methods whose safety is unknown)."
    "the URI(s) in the Location and Content-Location response header fields (if present)
    are candidates for invalidation" but "a cache MUST NOT trigger an invalidation under
    these conditions if the origin ... of the URI to be invalidated differs from that of
    the target URI". "A "non-error response" is one with a 2xx (Successful) or 3xx
    (Redirection) status code."
    """
    if request.method in SAFE_METHODS or not 200 <= status < 400:
        return ()
    urls = [normalize_url(request.url)]
    target_origin = origin_of(request.url)
    for name in ("location", "content-location"):
        value = response_headers.get(name)
        if not value:
            continue
        try:
            absolute = urljoin(request.url, value.strip())
            same_origin = origin_of(absolute) == target_origin
        except ValueError:
            continue
        if same_origin and (url := normalize_url(absolute)) not in urls:
            urls.append(url)
    return tuple(urls)
