"""Application mode: cache routes whose origin sends no caching headers, Hitbox style.

A :class:`Route` says *which* requests to cache (a predicate on method, path pattern,
query, headers — composable with ``&``, ``|`` and ``~``), *under which key* (extractors:
path parameters, selected query parameters, header values, a hash of the body) and *for
how long* (``ttl``, ``max_stale``). Routes run through the core :class:`hitbox.Cache`
state machine, so single-flight, stale-while-revalidate and fail-open apply.

RFC rules still protect private data: requests with ``Authorization`` or with
``Cache-Control: no-store``/``no-cache`` skip application mode; responses that are
``private``/``no-store``, set cookies, or ``Vary`` on a field the key does not include
are never stored — and a response that is not stored never reaches a waiting caller.
"""

from __future__ import annotations

import abc
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import final
from urllib.parse import parse_qs, urlsplit

from hitbox_http._headers import Headers

__all__ = [
    "KeyPart",
    "Predicate",
    "Route",
    "RouteRequest",
    "body_hash",
    "header",
    "header_value",
    "method",
    "path",
    "path_param",
    "query",
    "query_param",
]


@final
@dataclass(slots=True)
class RouteRequest:
    """What predicates and key extractors see of a request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: bytes | None = None
    path_params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_url(cls, method: str, url: str, headers: Headers) -> RouteRequest:
        """Split an absolute URL into path and parsed query."""
        parts = urlsplit(url)
        return cls(
            method, parts.path or "/", parse_qs(parts.query, keep_blank_values=True), headers
        )


class Predicate(abc.ABC):
    """A test on a request; combine with ``&`` (and), ``|`` (or) and ``~`` (not)."""

    @abc.abstractmethod
    def __call__(self, request: RouteRequest) -> bool:
        """Whether ``request`` matches."""

    def __and__(self, other: Predicate) -> Predicate:
        return _All((self, other))

    def __or__(self, other: Predicate) -> Predicate:
        return _Any((self, other))

    def __invert__(self) -> Predicate:
        return _Not(self)


@final
@dataclass(frozen=True, slots=True)
class _All(Predicate):
    parts: tuple[Predicate, ...]

    def __call__(self, request: RouteRequest) -> bool:
        return all(part(request) for part in self.parts)


@final
@dataclass(frozen=True, slots=True)
class _Any(Predicate):
    parts: tuple[Predicate, ...]

    def __call__(self, request: RouteRequest) -> bool:
        return any(part(request) for part in self.parts)


@final
@dataclass(frozen=True, slots=True)
class _Not(Predicate):
    inner: Predicate

    def __call__(self, request: RouteRequest) -> bool:
        return not self.inner(request)


@final
@dataclass(frozen=True, slots=True)
class _Method(Predicate):
    names: frozenset[str]

    def __call__(self, request: RouteRequest) -> bool:
        return request.method in self.names


def method(*names: str) -> Predicate:
    """Matches requests whose method is one of ``names`` (``method("GET", "HEAD")``)."""
    return _Method(frozenset(name.upper() for name in names))


_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(path))?\}")


@final
@dataclass(frozen=True, slots=True)
class _Path(Predicate):
    pattern: re.Pattern[str]

    def __call__(self, request: RouteRequest) -> bool:
        match = self.pattern.fullmatch(request.path)
        if match is None:
            return False
        request.path_params.update(match.groupdict())
        return True


def path(pattern: str) -> Predicate:
    """Matches a path pattern: ``/users/{user_id}`` (one segment) or ``/files/{rest:path}``.

    Matched parameters become available to :func:`path_param` key extractors.
    """
    regex: list[str] = []
    position = 0
    for match in _PARAM.finditer(pattern):
        regex.append(re.escape(pattern[position : match.start()]))
        name, kind = match.group(1), match.group(2)
        regex.append(f"(?P<{name}>.+)" if kind == "path" else f"(?P<{name}>[^/]+)")
        position = match.end()
    regex.append(re.escape(pattern[position:]))
    return _Path(re.compile("".join(regex)))


@final
@dataclass(frozen=True, slots=True)
class _Query(Predicate):
    name: str
    value: str | None

    def __call__(self, request: RouteRequest) -> bool:
        values = request.query.get(self.name)
        return bool(values) and (self.value is None or self.value in values)  # type: ignore[operator]


def query(name: str, value: str | None = None) -> Predicate:
    """Matches requests with query parameter ``name`` (equal to ``value`` if given)."""
    return _Query(name, value)


@final
@dataclass(frozen=True, slots=True)
class _Header(Predicate):
    name: str
    value: str | None

    def __call__(self, request: RouteRequest) -> bool:
        values = request.headers.get_all(self.name)
        return bool(values) and (self.value is None or self.value in values)


def header(name: str, value: str | None = None) -> Predicate:
    """Matches requests carrying header ``name`` (with exactly ``value`` if given)."""
    return _Header(name.lower(), value)


@final
@dataclass(frozen=True, slots=True)
class KeyPart:
    """One key extractor: a label and how to read the value from a request."""

    kind: str
    name: str = ""

    def extract(self, request: RouteRequest) -> str:
        """This part of the key, unambiguously encoded (length-prefixed)."""
        if self.kind == "path":
            value = request.path_params.get(self.name, "")
        elif self.kind == "query":
            value = "\x1f".join(sorted(request.query.get(self.name, [])))
        elif self.kind == "header":
            value = "\x1f".join(request.headers.get_all(self.name))
        else:
            value = hashlib.sha256(request.body or b"").hexdigest()
        return f"{self.kind}:{self.name}={len(value)}:{value}"


def path_param(name: str) -> KeyPart:
    """The value of path parameter ``name`` (from a :func:`path` predicate)."""
    return KeyPart("path", name)


def query_param(name: str) -> KeyPart:
    """The values of query parameter ``name`` (order-insensitive)."""
    return KeyPart("query", name)


def header_value(name: str) -> KeyPart:
    """The values of request header ``name``."""
    return KeyPart("header", name.lower())


def body_hash() -> KeyPart:
    """The SHA-256 of the request body (e.g. a GraphQL or search POST)."""
    return KeyPart("body")


@final
@dataclass(frozen=True)
class Route:
    """Cache requests matching ``when`` under a key built by ``key``, for ``ttl`` seconds.

    Without ``key`` parts the key is the path and the whole query string. ``statuses``
    are the response statuses that are stored; bodies over ``max_body_size`` are not.
    ``name`` namespaces the keys (defaults to the route's position).

    Example::

        Route(method("GET") & path("/users/{user_id}"), key=[path_param("user_id")], ttl=30)
    """

    when: Predicate
    ttl: float
    key: Sequence[KeyPart] = ()
    max_stale: float = 0.0
    stale_if_error: float = 0.0
    statuses: frozenset[int] = frozenset({200})
    max_body_size: int | None = None
    name: str = ""

    @property
    def needs_body(self) -> bool:
        """Whether a key part hashes the request body."""
        return any(part.kind == "body" for part in self.key)

    def header_names(self) -> frozenset[str]:
        """Request headers that are part of the key."""
        return frozenset(part.name for part in self.key if part.kind == "header")

    def cache_key(self, request: RouteRequest, host: str, query_string: str) -> str:
        """The (raw) cache key of ``request`` under this route."""
        if self.key:
            body = "|".join(part.extract(request) for part in self.key)
        else:
            body = f"{request.path}?{query_string}"
        return f"http-app:{self.name}:{request.method}:{host}:{body}"
