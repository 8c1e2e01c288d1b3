"""The sans-I/O messages: :class:`Request`, :class:`Response` and :class:`StoredResponse`.

They carry no sockets and no streams. Integrations (ASGI middleware, proxy, httpx
transport) translate their own messages into these and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, final

from hitbox_http._headers import Headers

__all__ = ["EMPTY_HEADERS", "Request", "Response", "StoredResponse"]

EMPTY_HEADERS: Final = Headers()


@final
@dataclass(frozen=True, slots=True)
class Request:
    """A request as the cache sees it.

    ``url`` is the absolute target URI (``scheme://authority/path?query``) the
    application routes on — for the ASGI middleware it comes from the ASGI scope, never
    from headers like ``X-Forwarded-Host`` that the application does not route on.
    """

    method: str
    url: str
    headers: Headers = EMPTY_HEADERS

    def with_headers(self, headers: Headers) -> Request:
        """A copy with different header fields."""
        return Request(self.method, self.url, headers)

    @property
    def has_body(self) -> bool:
        """Whether the request announces content (RFC 9112 §6.3): any
        ``Transfer-Encoding``, or a ``Content-Length`` other than ``0``."""
        headers = self.headers
        if "transfer-encoding" in headers:
            return True
        lengths = headers.get_all("content-length")
        return any(length.strip() != "0" for length in lengths)


@final
@dataclass(frozen=True, slots=True)
class Response:
    """A response head and (possibly empty) body."""

    status: int
    headers: Headers = EMPTY_HEADERS
    body: bytes = b""

    def with_headers(self, headers: Headers) -> Response:
        """A copy with different header fields."""
        return Response(self.status, headers, self.body)


@final
@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A response kept by the cache, with what RFC 9111 needs to reuse it.

    ``request_time`` / ``response_time`` are the clock values when the request that
    produced it was sent and when the response arrived (RFC 9111 §4.2.3).
    ``vary`` holds, for each field named in the response's ``Vary``, the normalised
    value the original request carried (``None`` if it carried none): the response
    is reused only for requests with the same values (§4.1).
    ``url`` is the target URI it answers.
    """

    status: int
    headers: Headers
    body: bytes
    request_time: float
    response_time: float
    url: str
    vary: tuple[tuple[str, str | None], ...] = ()
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """Derived values (parsed directives, freshness) computed once per stored response."""

    def with_body(self, body: bytes) -> StoredResponse:
        """A copy holding ``body``, with ``Content-Length`` set to its length.

        Statuses that never carry content (1xx, 204, 304) keep no ``Content-Length``.
        """
        headers = self.headers
        if self.status >= 200 and self.status not in (204, 304):
            headers = headers.set("content-length", str(len(body)))
        return StoredResponse(
            self.status,
            headers,
            body,
            self.request_time,
            self.response_time,
            self.url,
            self.vary,
        )

    def replace(
        self,
        *,
        headers: Headers | None = None,
        request_time: float | None = None,
        response_time: float | None = None,
    ) -> StoredResponse:
        """A copy with new header fields and/or times; derived values are recomputed."""
        return StoredResponse(
            self.status,
            self.headers if headers is None else headers,
            self.body,
            self.request_time if request_time is None else request_time,
            self.response_time if response_time is None else response_time,
            self.url,
            self.vary,
        )
