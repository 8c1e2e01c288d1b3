"""The RFC 9111 decisions of one cache, sans-I/O: :class:`HttpCacheSpec`.

The caller (middleware, proxy, client transport) does all I/O. It asks
:meth:`HttpCacheSpec.on_request` what to do with a request, given the stored responses
for its URI, and gets either a :class:`Hit` (answer from the cache) or a :class:`Forward`
(send a request to the origin). With the origin's answer it asks
:meth:`HttpCacheSpec.on_response` and gets a :class:`ResponsePlan`: what to send to the
client, what to store, what to freshen and what to invalidate. No clock is read except
the injected one; no socket is touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Final, final

from hitbox_http._cache_status import CacheStatus, Forwarded
from hitbox_http._config import METHOD_OVERRIDE_HEADERS, HttpPolicy
from hitbox_http._dates import format_http_date
from hitbox_http._decisions import Forward, Hit, ResponsePlan
from hitbox_http._directives import RequestDirectives
from hitbox_http._freshness import assess
from hitbox_http._headers import Headers
from hitbox_http._keys import normalize_url, selecting_values
from hitbox_http._models import Request, Response, StoredResponse
from hitbox_http._ranges import RANGE_FIELDS, ranged_response
from hitbox_http._storing import stored_template
from hitbox_http._surrogate import outgoing_headers
from hitbox_http._validation import (
    CLIENT_VALIDATORS,
    client_condition_met,
    conditional_request,
    freshen,
    has_validator,
    invalidated_urls,
    not_modified_headers,
    select_for_update,
)

__all__ = ["Forward", "Hit", "HttpCacheSpec", "ResponsePlan"]  # re-exported decisions

# Representation-selecting preconditions are forwarded as they are; method overrides
# would make the application see another method than the cache does.
_BYPASS: Final = frozenset(("if-match", "if-unmodified-since", *METHOD_OVERRIDE_HEADERS))
_SERVER_ERRORS: Final = frozenset({500, 502, 503, 504})


@final
class HttpCacheSpec:
    """RFC 9111 for one cache: what to serve, forward, store, freshen and invalidate.

    Example::

        spec = HttpCacheSpec(HttpPolicy(), clock=lambda: 1_700_000_000.0)
        decision = spec.on_request(Request("GET", "https://example.com/"), stored=[])
        assert isinstance(decision, Forward) and decision.fwd == "uri-miss"
    """

    __slots__ = ("clock", "policy")

    def __init__(self, policy: HttpPolicy | None = None, *, clock: Callable[[], float] = time.time):
        self.policy = policy or HttpPolicy()
        self.clock = clock

    def _status(self, **params: object) -> CacheStatus:
        return CacheStatus(self.policy.cache_name, **params)  # type: ignore[arg-type]

    def request_directives(self, request: Request) -> RequestDirectives:
        """The request's Cache-Control (or Pragma) directives, as this policy honours them."""
        directives = RequestDirectives.parse(
            request.headers.get_all("cache-control"), request.headers.get_all("pragma")
        )
        if not self.policy.honor_request_no_cache and (directives.no_cache or directives.max_age):
            return RequestDirectives(
                max_stale=directives.max_stale,
                min_fresh=directives.min_fresh,
                no_store=directives.no_store,
                no_transform=directives.no_transform,
                only_if_cached=directives.only_if_cached,
                stale_if_error=directives.stale_if_error,
            )
        return directives

    def matches(self, stored: StoredResponse, request: Request) -> bool:
        """RFC 9111 §4: same target URI and same selecting header fields (§4.1)."""
        if stored.url != normalize_url(request.url):
            return False
        names = tuple(name for name, _ in stored.vary)
        if "*" in names:
            return False
        return selecting_values(request.headers, names) == stored.vary

    def on_request(
        self,
        request: Request,
        stored: Sequence[StoredResponse],
        *,
        variants_exist: bool = False,
        collapsed: bool = False,
    ) -> Hit | Forward:
        """Serve from ``stored`` (the responses kept for the request's URI) or forward.

        ``variants_exist`` says other variants of the URI are stored (a miss is then a
        ``vary-miss``); ``collapsed`` that this request waited for another one to fetch
        (RFC 9211 ``collapsed``).
        """
        if request.method == "GET" and "range" in request.headers:
            return self._ranged(request, stored, variants_exist, collapsed)
        return self._decide(request, stored, variants_exist, collapsed)

    def _ranged(
        self,
        request: Request,
        stored: Sequence[StoredResponse],
        variants_exist: bool,
        collapsed: bool,
    ) -> Hit | Forward:
        """A range request: cut from a stored response the cache may reuse, else sent
        to the origin as it is, its partial response not stored (see ``_ranges``)."""
        whole = request.with_headers(request.headers.without(*RANGE_FIELDS))
        decision = self._decide(whole, stored, variants_exist, collapsed)
        if isinstance(decision, Hit):
            if decision.stored is None:
                return decision  # only-if-cached, nothing usable: 504
            response = ranged_response(request, decision.response)
            return Hit(response, decision.stored, decision.revalidate, decision.stale)
        fwd = "bypass" if decision.fwd in ("bypass", "method") else decision.fwd
        return Forward(request, request, fwd)

    def _decide(
        self,
        request: Request,
        stored: Sequence[StoredResponse],
        variants_exist: bool,
        collapsed: bool,
    ) -> Hit | Forward:
        method = request.method
        if method not in ("GET", "HEAD"):
            # RFC 9111 §4: a stored response may only be reused if "the request method
            # associated with the stored response allows it to be used for the presented
            # request".
            return Forward(request, request, "method")
        if not _BYPASS.isdisjoint(request.headers.names()):
            return Forward(request, request, "bypass")
        if request.has_body:
            # RFC 9110 §9.3.1: "content received in a GET request has no generally defined
            # semantics" — but an application may act on it, and the key cannot tell two
            # bodies apart. So a GET or HEAD with content goes to the origin with it, and
            # its response is neither served from nor written to the cache.
            return Forward(request, request, "bypass")
        directives = self.request_directives(request)
        may_store = method == "GET" and not directives.no_store
        candidates = [response for response in stored if self.matches(response, request)]
        if len(candidates) > 1:
            candidates.sort(key=lambda response: response.response_time, reverse=True)
        if not candidates:
            if directives.only_if_cached:
                return self._gateway_timeout(request)
            # The client's own validators are answered here once the origin's full
            # response is known, so that response can be stored.
            upstream = request.with_headers(request.headers.without(*CLIENT_VALIDATORS))
            return Forward(
                upstream if may_store else request,
                request,
                "vary-miss" if stored or variants_exist else "uri-miss",
                may_store=may_store,
            )
        # RFC 9111 §4.1: "the most recent response (as determined by the Date header
        # field) is used" — candidates are ordered by when they were received.
        chosen = candidates[0]
        now = self.clock()
        assessment = assess(chosen, self.policy)
        age = assessment.current_age(chosen, now)
        lifetime = assessment.freshness_lifetime
        # §4.2: "response_is_fresh = (freshness_lifetime > current_age)"
        fresh = lifetime > age
        staleness = age - lifetime
        fwd: Forwarded | None = None
        if directives.no_cache:
            # §5.2.1.4: "The no-cache request directive indicates that the client prefers a
            # stored response not be used to satisfy the request without successful
            # validation on the origin server."
            fwd = "request"
        elif assessment.directives.no_cache:
            # §5.2.2.4: "the response MUST NOT be used to satisfy any other request
            # without forwarding it for validation and receiving a successful response".
            fwd = "stale"
        elif directives.max_age is not None and age > directives.max_age:
            # §5.2.1.1: "the client prefers a response whose age is less than or equal to
            # the specified number of seconds."
            fwd = "request" if fresh else "stale"
        elif fresh:
            # §5.2.1.3: "the client prefers a response that will still be fresh for at
            # least the specified number of seconds."
            if directives.min_fresh is not None and lifetime - age < directives.min_fresh:
                fwd = "request"
        elif assessment.stale_forbidden:
            fwd = "stale"
        elif directives.max_stale is not None and staleness <= directives.max_stale:
            # §5.2.1.2: "the client will accept a response that has exceeded its
            # freshness lifetime by no more than the specified number of seconds."
            pass
        elif (
            assessment.directives.stale_while_revalidate is not None
            and staleness <= assessment.directives.stale_while_revalidate
            and directives.max_age is None
        ):
            # RFC 5861 §3: "caches MAY serve the response in which it appears after it
            # becomes stale, up to the indicated number of seconds" while revalidating.
            revalidate = self._revalidation(
                Request("GET", request.url, request.headers),
                candidates,
                "stale",
                may_store=not directives.no_store,
            )
            return Hit(
                self._reuse(request, chosen, age, lifetime, detail="stale-while-revalidate"),
                chosen,
                revalidate,
                stale=True,
            )
        else:
            fwd = "stale"
        if fwd is None:
            status = self._status(hit=True, ttl=lifetime - age, collapsed=collapsed)
            reused = self._reuse(request, chosen, age, lifetime, status=status)
            return Hit(reused, chosen, stale=not fresh)
        if directives.only_if_cached:
            # §5.2.1.7: "a cache SHOULD either respond using a stored response consistent
            # with the other constraints of the request or respond with a 504 (Gateway
            # Timeout) status code."
            return self._gateway_timeout(request)
        if method == "HEAD":
            return Forward(request, request, fwd, tuple(candidates))
        return self._revalidation(request, candidates, fwd, may_store=may_store)

    @staticmethod
    def _revalidation(
        request: Request, candidates: Sequence[StoredResponse], fwd: Forwarded, *, may_store: bool
    ) -> Forward:
        """A conditional request for the validatable candidates, or a plain one if none."""
        validatable = [response for response in candidates if has_validator(response)]
        if validatable:
            upstream = conditional_request(request, validatable)
        else:
            upstream = request.with_headers(request.headers.without(*CLIENT_VALIDATORS))
        return Forward(upstream, request, fwd, tuple(candidates), may_store, bool(validatable))

    def _gateway_timeout(self, request: Request) -> Hit:
        headers = Headers([("content-length", "0")])
        status = self._status(detail="only-if-cached")
        return Hit(Response(504, status.apply(headers)), None)

    def _reuse(
        self,
        request: Request,
        stored: StoredResponse,
        age: float,
        lifetime: float,
        *,
        detail: str | None = None,
        status: CacheStatus | None = None,
        validated: bool = False,
    ) -> Response:
        """``stored`` as sent to the client: Age, Cache-Status, HEAD and 304 handled."""
        if status is None:
            status = self._status(hit=True, ttl=lifetime - age, detail=detail)
        if validated:
            headers = status.apply(outgoing_headers(stored.headers, self.policy))
        else:
            # RFC 9111 §4: "When a stored response is used to satisfy a request without
            # validation, a cache MUST generate an Age header field ..., replacing any
            # present in the response with a value equal to the stored response's
            # current_age".
            base = assess(stored, self.policy).reuse_headers
            age_field = ("age", str(int(age)))
            if "cache-status" in base.names():
                headers = status.apply(base.extended((age_field,)))
            else:
                headers = base.extended((age_field, ("cache-status", str(status))))
        if client_condition_met(request, stored.headers, stored.response_time):
            return Response(304, not_modified_headers(headers))
        return Response(stored.status, headers, b"" if request.method == "HEAD" else stored.body)

    def on_response(
        self,
        forward: Forward,
        status: int,
        headers: Headers,
        *,
        request_time: float,
        response_time: float,
        too_large: bool = False,
    ) -> ResponsePlan:
        """Plan the answer to ``forward``'s client, given the origin's response head.

        ``too_large`` says the body is known to exceed ``policy.max_body_size``.
        """
        client = forward.client
        invalidate = invalidated_urls(client, status, headers)
        if "date" not in headers:
            # RFC 9110 §6.6.1: "A recipient with a clock that receives a response message
            # without a Date header field MUST record the time it was received and append
            # a corresponding Date header field to the message's header section if it is
            # cached or forwarded downstream."
            headers = headers.add("date", format_http_date(response_time))
        if forward.validating and status == 304:
            return self._validated(forward, headers, request_time, response_time)
        if forward.candidates and status in _SERVER_ERRORS:
            # RFC 9111 §4.3.3: "If a cache receives a 5xx (Server Error) response while
            # attempting to validate a response, it can either forward this response to
            # the requesting client or act as if the server failed to respond. In the
            # latter case, the cache can send a previously stored response, subject to its
            # constraints on doing so (see Section 4.2.4)".
            stale = self.on_error(forward, fwd_status=status)
            if stale is not None:
                return ResponsePlan(stale.status, stale.headers, stale.body, stale=True)
        store: StoredResponse | None = None
        detail: str | None = None
        if forward.may_store and too_large:
            detail = "too-large"
        elif forward.may_store:
            store, detail = stored_template(
                client,
                self.request_directives(client),
                status,
                headers,
                request_time,
                response_time,
                self.policy,
            )
        out_headers = self._status(
            fwd=forward.fwd, fwd_status=status, stored=store is not None, detail=detail
        ).apply(outgoing_headers(headers, self.policy))
        if status == 200 and client_condition_met(client, headers, response_time):
            return ResponsePlan(304, not_modified_headers(out_headers), b"", store, (), invalidate)
        return ResponsePlan(status, out_headers, None, store, (), invalidate)

    def _validated(
        self, forward: Forward, headers: Headers, request_time: float, response_time: float
    ) -> ResponsePlan:
        selected = select_for_update(forward.candidates, headers)
        if not selected:
            # §4.3.4: "the cache MUST NOT use the new response to update any stored
            # responses" — so ask again, unconditionally.
            upstream = forward.client.with_headers(
                forward.client.headers.without(*CLIENT_VALIDATORS)
            )
            retry = Forward(upstream, forward.client, forward.fwd, (), forward.may_store)
            return ResponsePlan(304, headers, retry=retry)
        updated = tuple(
            freshen(response, headers, request_time, response_time) for response in selected
        )
        chosen = updated[0]
        assessment = assess(chosen, self.policy)
        age = assessment.current_age(chosen, self.clock())
        status = self._status(
            fwd=forward.fwd,
            fwd_status=304,
            ttl=assessment.freshness_lifetime - age,
            stored=forward.may_store,
        )
        response = self._reuse(
            forward.client,
            chosen,
            age,
            assessment.freshness_lifetime,
            status=status,
            validated=True,
        )
        keep = updated if forward.may_store else ()
        return ResponsePlan(response.status, response.headers, response.body, updates=keep)

    def on_error(self, forward: Forward, *, fwd_status: int | None = None) -> Response | None:
        """A stale response to send when the origin failed, or ``None`` (send an error).

        RFC 5861 §4: "The stale-if-error Cache-Control extension indicates that when an
        error is encountered, a cached stale response MAY be used to satisfy the request,
        regardless of other freshness information." It never overrides a directive that
        forbids stale responses (RFC 9111 §4.2.4).
        """
        if not forward.candidates or forward.client.method not in ("GET", "HEAD"):
            return None
        chosen = forward.candidates[0]
        assessment = assess(chosen, self.policy)
        if assessment.stale_forbidden:
            return None
        age = assessment.current_age(chosen, self.clock())
        directives = self.request_directives(forward.client)
        allowed = max(
            assessment.directives.stale_if_error or 0,
            directives.stale_if_error or 0,
            self.policy.stale_if_error,
        )
        if age - assessment.freshness_lifetime > allowed:
            return None
        status = self._status(
            fwd="stale",
            fwd_status=fwd_status,
            ttl=assessment.freshness_lifetime - age,
            detail="stale-if-error",
        )
        return self._reuse(
            forward.client, chosen, age, assessment.freshness_lifetime, status=status
        )
