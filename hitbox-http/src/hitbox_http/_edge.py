"""The proxy as the edge: which client requests it refuses, and which forwarding fields
reach the origin (:class:`EdgePolicy`).

A client can send any header. Fields such as ``X-Forwarded-For``, ``X-Forwarded-Host``
or ``X-Original-URL`` tell an application behind a proxy who the client is and which
URL it asked for; frameworks act on them (Werkzeug's ``ProxyFix``, Rails, Spring…). When
the proxy is the edge, only it knows those facts, so by default it drops every such
field the client sent and sets its own ``Forwarded`` (RFC 7239) and
``X-Forwarded-For``/``-Proto``/``-Host`` from the connection it saw. Requests arriving
from an address in ``trusted_proxies`` (a load balancer in front of this proxy) keep
their forwarding fields, and the proxy appends itself to the chain.

Malformed requests that the HTTP server lets through are refused here with a 4xx: both
``Content-Length`` and ``Transfer-Encoding`` (RFC 9112 §6.1, request smuggling),
``CONNECT`` (a reverse proxy tunnels nothing) and request targets that are not a path
(absolute-form and asterisk-form: the proxy forwards paths to one origin).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Final, final

import hitbox
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from hitbox_http._headers import Headers

__all__ = [
    "DEFAULT_FORWARDING_HEADERS",
    "EdgePolicy",
    "Peer",
    "Refusal",
    "forwarding_headers",
    "refusal",
]

DEFAULT_FORWARDING_HEADERS: Final = (
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-forwarded-scheme",
    "x-forwarded-ssl",
    "x-forwarded-uri",
    "x-forwarded-path",
    "x-real-ip",
    "true-client-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "client-ip",
    "front-end-https",
    "x-url-scheme",
    "x-original-host",
    "x-original-url",
    "x-rewrite-url",
    "x-host",
    "x-http-host-override",
)
"""Request fields that claim something about the client or the URL it asked for. The
proxy drops them from clients it does not trust (see :class:`EdgePolicy`)."""

_TOKEN: Final = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+")
_SET_BY_PROXY: Final = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto")


@final
class EdgePolicy(BaseModel):
    """What the proxy trusts of its clients (the ``[hitbox.proxy]`` table).

    Example::

        EdgePolicy(trusted_proxies=("10.0.0.0/8",))
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    forwarding_headers: tuple[str, ...] = DEFAULT_FORWARDING_HEADERS
    """Request fields dropped from untrusted clients (see
    :data:`DEFAULT_FORWARDING_HEADERS`); the proxy then sets ``Forwarded`` and
    ``X-Forwarded-For``/``-Proto``/``-Host`` itself."""

    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks (``10.0.0.0/8``, ``::1``) of proxies in front of this one:
    their requests keep the forwarding fields, extended with this hop. Empty: this proxy
    is the edge and trusts no client's forwarding fields."""

    @field_validator("forwarding_headers")
    @classmethod
    def _names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"{name!r} is not a header field name")
        return tuple(name.lower() for name in value)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not an IP address or network") from None
        return value

    def trusts(self, address: str | None) -> bool:
        """Whether a connection from ``address`` comes from a trusted proxy."""
        if address is None or not self.trusted_proxies:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in _network(network) for network in self.trusted_proxies)

    @classmethod
    def validated(cls, data: Any) -> EdgePolicy:
        """A policy from a mapping; invalid input raises :class:`hitbox.ConfigError`
        naming the field and value."""
        if isinstance(data, EdgePolicy):
            return data
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            name = ".".join(str(part) for part in error["loc"][:1])
            value = error.get("input")
            if error["type"] == "extra_forbidden":
                message = f"proxy.{name}: unknown setting (known: {', '.join(cls.model_fields)})"
            else:
                message = f"proxy.{name}: {error['msg']} (got {value!r})"
            raise hitbox.ConfigError(message, field=f"proxy.{name}", value=value) from None


@functools.lru_cache(maxsize=256)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text, strict=False)


@final
@dataclass(frozen=True, slots=True)
class Peer:
    """What the proxy saw of one connection: the client's address, the scheme it spoke
    and the ``Host`` it asked for."""

    address: str | None
    scheme: str
    host: str


def _quoted(value: str) -> str:
    """A ``Forwarded`` value: a token as is, anything else as a quoted-string."""
    if _TOKEN.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _node(address: str | None) -> str:
    # RFC 7239 §6: an IPv6 node is "[" IPv6address "]" and must then be quoted; an
    # unknown peer is "unknown".
    if address is None:
        return "unknown"
    return _quoted(f"[{address}]" if ":" in address else address)


def forwarding_headers(headers: Headers, peer: Peer, policy: EdgePolicy) -> Headers:
    """``headers`` as they go upstream: the client's forwarding fields dropped unless
    the peer is trusted, and this hop's ``Forwarded``/``X-Forwarded-*`` added."""
    trusted = policy.trusts(peer.address)
    if trusted:
        forwarded = headers.get_all("forwarded")
        chain = headers.get_list("x-forwarded-for")
        proto = headers.get("x-forwarded-proto") or peer.scheme
        host = headers.get("x-forwarded-host") or peer.host
        out = headers.without(*_SET_BY_PROXY)
    else:
        forwarded, chain = [], []
        proto, host = peer.scheme, peer.host
        out = headers.without(*policy.forwarding_headers, *_SET_BY_PROXY)
    element = f"for={_node(peer.address)};host={_quoted(peer.host)};proto={peer.scheme}"
    out = out.add("forwarded", ", ".join([*forwarded, element]))
    if peer.address is not None:
        chain = [*chain, peer.address]
    if chain:
        out = out.add("x-forwarded-for", ", ".join(chain))
    return out.add("x-forwarded-proto", proto).add("x-forwarded-host", host)


@final
@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is refused: its status, a message for the client, a log kind."""

    status: int
    message: str
    kind: str


def refusal(method: str, raw_path: bytes | None, headers: Headers) -> Refusal | None:
    """A :class:`Refusal` for a request the proxy must not forward, else ``None``."""
    if method == "CONNECT":
        return Refusal(405, "CONNECT is not supported by this reverse proxy", "connect")
    if "transfer-encoding" in headers and "content-length" in headers:
        # RFC 9112 §6.1: "A server MAY reject a request that contains both Content-Length
        # and Transfer-Encoding ... Regardless, the server MUST close the connection
        # after responding to such a request". §11.2: such requests smuggle.
        return Refusal(400, "both Content-Length and Transfer-Encoding", "length-and-encoding")
    if raw_path is not None and not raw_path.startswith(b"/"):
        return Refusal(400, "the request target must be a path", "request-target")
    # The two below are refused by h11 before the proxy sees them; uvicorn's httptools
    # server passes them on, so the proxy refuses them itself whatever serves it.
    if len(headers.get_all("host")) > 1:
        # RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to
        # any HTTP/1.1 request message that ... contains more than one Host header field".
        return Refusal(400, "more than one Host header field", "two-hosts")
    codings = headers.get_list("transfer-encoding")
    if codings and codings[-1].lower() != "chunked":
        # RFC 9112 §6.3: "If a Transfer-Encoding header field is present in a request and
        # the chunked transfer coding is not the final encoding, ... the server MUST
        # respond with the 400 (Bad Request) status code and then close the connection."
        return Refusal(400, "the final transfer coding must be chunked", "transfer-coding")
    return None
