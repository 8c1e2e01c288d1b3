"""Cache-Control directives (RFC 9111 §5.2), tolerant of whatever origins and clients send.

Parsing never raises. The rules for bad input follow the RFC and lean to the safe side:

- names are case-insensitive; arguments may be tokens or quoted strings;
- a freshness directive (``max-age``, ``s-maxage``) with an invalid value, or repeated
  with different values, counts as ``0`` — the response is stored but stale;
- a stale-serving extension (``stale-while-revalidate``, ``stale-if-error``) with an
  invalid value is ignored, so nothing stale is served on its account;
- ``no-cache`` / ``private`` with and without field names: the unqualified form wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, final

from hitbox_http._headers import split_list

__all__ = [
    "MAX_DELTA_SECONDS",
    "RequestDirectives",
    "ResponseDirectives",
    "parse_delta_seconds",
    "parse_directives",
]

MAX_DELTA_SECONDS: Final = 2**31
"""RFC 9111 §1.2.2: "If a cache receives a delta-seconds value greater than the greatest
integer it can represent, or if any of its subsequent calculations overflows, the cache
MUST consider the value to be 2147483648 (2^31) or the greatest positive integer it can
conveniently represent."
"""

_MAX_DIRECTIVES: Final = 64  # a header with more is an attack or a bug; the rest is ignored


def parse_delta_seconds(value: str | None) -> int | None:
    """A ``delta-seconds`` value (``1*DIGIT``), capped at 2^31; ``None`` if invalid."""
    if value is None:
        return None
    text = value.strip()
    if not text or not text.isascii() or not text.isdigit():
        return None
    if len(text) > 10:
        return MAX_DELTA_SECONDS
    return min(int(text), MAX_DELTA_SECONDS)


def _unquote(value: str) -> str:
    """The content of a quoted-string; tolerant of a missing closing quote."""
    body = value[1:]
    if body.endswith('"') and not body.endswith('\\"'):
        body = body[:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    escaped = False
    for char in body:
        if escaped or char != "\\":
            out.append(char)
            escaped = False
        else:
            escaped = True
    return "".join(out)


def parse_directives(lines: Iterable[str]) -> list[tuple[str, str | None]]:
    """Every ``name[=argument]`` member of the given Cache-Control lines, in order.

    RFC 9111 §5.2: "Cache directives are identified by a token, to be compared
    case-insensitively, and have an optional argument that can use both token and
    quoted-string syntax." Names come back lower-cased, quoted arguments unquoted.
    Members that are not a token are skipped.
    """
    directives: list[tuple[str, str | None]] = []
    for line in lines:
        for member in split_list(line):
            name, sep, argument = member.partition("=")
            name = name.strip(" \t").lower()
            if not name or any(char in name for char in ' \t"();:/\\'):
                continue
            if not sep:
                directives.append((name, None))
            else:
                argument = argument.strip(" \t")
                directives.append(
                    (name, _unquote(argument) if argument.startswith('"') else argument)
                )
            if len(directives) >= _MAX_DIRECTIVES:
                return directives
    return directives


def _field_names(argument: str | None) -> tuple[str, ...]:
    if argument is None:
        return ()
    return tuple(name.lower() for name in split_list(argument))


def _freshness_value(values: list[str | None]) -> int:
    # RFC 9111 §4.2.1: "When there is more than one value present for a given directive
    # (e.g., two Expires header field lines or multiple Cache-Control: max-age directives),
    # either the first occurrence should be used or the response should be considered
    # stale." and "Caches are encouraged to consider responses that have invalid freshness
    # information (e.g., a max-age directive with non-integer content) to be stale."
    parsed = {parse_delta_seconds(value) for value in values}
    if len(parsed) != 1 or None in parsed:
        return 0
    (value,) = parsed
    assert value is not None
    return value


def _first_delta(values: list[str | None] | None) -> int | None:
    return parse_delta_seconds(values[0]) if values else None


@final
@dataclass(frozen=True, slots=True)
class ResponseDirectives:
    """The Cache-Control directives of a response (RFC 9111 §5.2.2 and RFC 5861).

    ``None`` means the directive is absent. ``no_cache`` / ``private`` are the
    unqualified forms; their field-name arguments are in ``no_cache_fields`` /
    ``private_fields``.
    """

    max_age: int | None = None
    s_maxage: int | None = None
    no_cache: bool = False
    no_cache_fields: tuple[str, ...] = ()
    no_store: bool = False
    private: bool = False
    private_fields: tuple[str, ...] = ()
    public: bool = False
    must_revalidate: bool = False
    proxy_revalidate: bool = False
    must_understand: bool = False
    no_transform: bool = False
    immutable: bool = False
    stale_while_revalidate: int | None = None
    stale_if_error: int | None = None
    extensions: tuple[str, ...] = ()

    @classmethod
    def parse(cls, lines: Iterable[str]) -> ResponseDirectives:
        """Directives from the Cache-Control field lines of a response."""
        return cls.from_pairs(parse_directives(lines))

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str | None]]) -> ResponseDirectives:
        """Directives from already-split ``(name, argument)`` pairs."""
        seen: dict[str, list[str | None]] = {}
        for name, argument in pairs:
            seen.setdefault(name, []).append(argument)
        if not seen:
            return _EMPTY_RESPONSE
        no_cache_args = seen.get("no-cache", [])
        private_args = seen.get("private", [])
        return cls(
            max_age=_freshness_value(seen["max-age"]) if "max-age" in seen else None,
            s_maxage=_freshness_value(seen["s-maxage"]) if "s-maxage" in seen else None,
            no_cache=any(arg is None or not _field_names(arg) for arg in no_cache_args),
            no_cache_fields=tuple(name for arg in no_cache_args for name in _field_names(arg)),
            no_store="no-store" in seen,
            private=any(arg is None or not _field_names(arg) for arg in private_args),
            private_fields=tuple(name for arg in private_args for name in _field_names(arg)),
            public="public" in seen,
            must_revalidate="must-revalidate" in seen,
            proxy_revalidate="proxy-revalidate" in seen,
            must_understand="must-understand" in seen,
            no_transform="no-transform" in seen,
            immutable="immutable" in seen,
            stale_while_revalidate=_first_delta(seen.get("stale-while-revalidate")),
            stale_if_error=_first_delta(seen.get("stale-if-error")),
            extensions=tuple(name for name in seen if name not in _KNOWN_RESPONSE),
        )


_EMPTY_RESPONSE: Final = ResponseDirectives()
_KNOWN_RESPONSE: Final = frozenset(
    (
        "max-age",
        "s-maxage",
        "no-cache",
        "no-store",
        "private",
        "public",
        "must-revalidate",
        "proxy-revalidate",
        "must-understand",
        "no-transform",
        "immutable",
        "stale-while-revalidate",
        "stale-if-error",
    )
)


@final
@dataclass(frozen=True, slots=True)
class RequestDirectives:
    """The Cache-Control directives of a request (RFC 9111 §5.2.1 and RFC 5861).

    ``max_stale`` is :data:`MAX_DELTA_SECONDS` for a bare ``max-stale`` ("any
    staleness"). Invalid arguments are ignored (the directive counts as absent), except
    for ``max-age``, where an invalid value counts as ``0`` (validate first).
    """

    max_age: int | None = None
    max_stale: int | None = None
    min_fresh: int | None = None
    no_cache: bool = False
    no_store: bool = False
    no_transform: bool = False
    only_if_cached: bool = False
    stale_if_error: int | None = None

    @property
    def is_empty(self) -> bool:
        """True when no directive changes what the cache does."""
        return self == _EMPTY_REQUEST

    @classmethod
    def parse(cls, lines: Iterable[str], pragma: Iterable[str] = ()) -> RequestDirectives:
        """Directives from a request's Cache-Control lines, and its Pragma lines.

        RFC 7234 §5.4: "When the Cache-Control header field is not present in a request,
        caches MUST consider the no-cache request pragma-directive as having the same
        effect as if "Cache-Control: no-cache" were present." RFC 9111 §5.4 keeps the
        other half: "When the Cache-Control header field is also present and understood
        in a request, Pragma is ignored."
        """
        lines = list(lines)
        if not lines:
            pragmas = {name for name, _ in parse_directives(pragma)}
            return _PRAGMA_NO_CACHE if "no-cache" in pragmas else _EMPTY_REQUEST
        seen: dict[str, list[str | None]] = {}
        for name, argument in parse_directives(lines):
            seen.setdefault(name, []).append(argument)
        max_stale: int | None = None
        if "max-stale" in seen:
            argument = seen["max-stale"][0]
            max_stale = MAX_DELTA_SECONDS if argument is None else parse_delta_seconds(argument)
        return cls(
            max_age=_freshness_value(seen["max-age"]) if "max-age" in seen else None,
            max_stale=max_stale,
            min_fresh=_first_delta(seen.get("min-fresh")),
            no_cache="no-cache" in seen,
            no_store="no-store" in seen,
            no_transform="no-transform" in seen,
            only_if_cached="only-if-cached" in seen,
            stale_if_error=_first_delta(seen.get("stale-if-error")),
        )


_EMPTY_REQUEST: Final = RequestDirectives()
_PRAGMA_NO_CACHE: Final = RequestDirectives(no_cache=True)
