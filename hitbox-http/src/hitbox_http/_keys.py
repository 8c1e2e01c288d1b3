"""Cache keys: the primary key of a target URI and the secondary key of a variant.

RFC 9111 §2: "The "cache key" is the information a cache uses to choose a response and
is composed from, at a minimum, the request method and target URI used to retrieve the
stored response". Only GET responses are stored (HEAD is answered from them), so the
method is implied by the ``http:`` prefix.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

from hitbox_http._headers import Headers, split_list

__all__ = [
    "normalize_url",
    "origin_of",
    "primary_key",
    "selecting_values",
    "variant_key",
]

_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# Fields whose values are case-insensitive and whose member order carries no meaning,
# so "gzip, br" and "BR,gzip" select the same variant (RFC 9111 §4.1 normalisation).
_UNORDERED_CASELESS: Final = frozenset({"accept-encoding", "accept-charset", "te"})
_CASELESS: Final = frozenset({"accept", "accept-language", "origin"})


@functools.lru_cache(maxsize=4096)
def origin_of(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of an absolute URI, normalised (RFC 9110 §4.3.1)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


@functools.lru_cache(maxsize=4096)
def normalize_url(url: str) -> str:
    """The target URI as keyed: lower-case scheme and host, no default port, no fragment.

    The path and query are kept byte for byte: an application may tell ``/a%2Fb`` from
    ``/a/b`` and ``?a=1&b=2`` from ``?b=2&a=1``, so the cache must too.
    """
    parts = urlsplit(url)
    scheme, host, port = origin_of(url)
    authority = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    if ":" in host:  # IPv6 literal
        authority = (
            f"[{host}]"
            if port is None or port == _DEFAULT_PORTS.get(scheme)
            else (f"[{host}]:{port}")
        )
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query or url.endswith("?") else ""
    return f"{scheme}://{authority}{path}{query}"


def _bounded(key: str, max_length: int) -> str:
    if len(key) <= max_length:
        return key
    return "http:sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def primary_key(
    url: str, headers: Headers, *, unkeyed_headers: Iterable[str] = (), max_length: int = 512
) -> str:
    """The backend key for all stored responses of ``url``.

    Fields in ``unkeyed_headers`` that the request carries become part of the key, so a
    request with ``X-Forwarded-Host: evil`` can never fill the entry others receive.
    Keys longer than ``max_length`` are replaced by their SHA-256 digest.
    """
    key = "http:" + normalize_url(url)
    present = headers.names()
    if present.isdisjoint(unkeyed_headers):
        return _bounded(key, max_length)
    extra = [
        name + "=" + "\n".join(headers.get_all(name)) for name in unkeyed_headers if name in present
    ]
    if extra:
        # "#" never survives normalize_url (it starts a fragment), so this is unambiguous.
        material = "\n".join(extra).encode("utf-8", "surrogatepass")
        key += "#h:" + hashlib.sha256(material).hexdigest()[:32]
    return _bounded(key, max_length)


def _normalise(name: str, lines: list[str]) -> str:
    members = [" ".join(member.split()) for line in lines for member in split_list(line)]
    if name in _UNORDERED_CASELESS:
        return ",".join(sorted({member.lower() for member in members}))
    if name in _CASELESS:
        return ",".join(member.lower() for member in members)
    return ",".join(members)


def selecting_values(headers: Headers, names: Iterable[str]) -> tuple[tuple[str, str | None], ...]:
    """For each field in ``names``, the request's normalised value, or ``None`` if absent.

    RFC 9111 §4.1: selecting header fields match after "adding or removing whitespace,
    where allowed in the field's syntax; combining multiple field lines ... with the same
    field name; normalizing both field values in a way that is known to have identical
    semantics ... If (after any normalization that might take place) a header field is
    absent from a request, it can only match another request if it is also absent there."
    """
    values: list[tuple[str, str | None]] = []
    for name in names:
        lines = headers.get_all(name)
        values.append((name, _normalise(name, lines) if lines else None))
    return tuple(values)


def variant_key(primary: str, vary: tuple[tuple[str, str | None], ...]) -> str:
    """The backend key of one variant: the primary key and a digest of its values."""
    material = "\x00".join(
        f"{name}\x01{'' if value is None else '=' + value}" for name, value in vary
    )
    digest = hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{primary}#v:{digest}"
