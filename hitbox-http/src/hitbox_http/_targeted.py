"""Targeted cache-control fields such as ``CDN-Cache-Control`` (RFC 9213).

A targeted field carries the Cache-Control directives as a Structured Fields Dictionary
(RFC 8941 §3.2). This module holds a strict, small Dictionary parser: anything that is
not a valid Dictionary makes the whole field invalid, and an invalid field is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from hitbox_http._directives import ResponseDirectives
from hitbox_http._headers import Headers

__all__ = ["parse_sf_dictionary", "targeted_directives"]

_KEY: Final = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_INTEGER_OR_DECIMAL: Final = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,3})?")
_TOKEN: Final = re.compile(r"[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]*")
_BYTES: Final = re.compile(r":[A-Za-z0-9+/=]*:")


class _Invalid(Exception):  # noqa: N818 - internal control flow only
    pass


def _bare_item(text: str, pos: int) -> tuple[str | bool, int]:
    """One bare item at ``pos``; strings/tokens/numbers as ``str``, booleans as ``bool``."""
    if pos >= len(text):
        raise _Invalid
    char = text[pos]
    if char == '"':
        out: list[str] = []
        pos += 1
        while pos < len(text):
            char = text[pos]
            if char == "\\":
                if pos + 1 >= len(text) or text[pos + 1] not in '"\\':
                    raise _Invalid
                out.append(text[pos + 1])
                pos += 2
            elif char == '"':
                return "".join(out), pos + 1
            elif not " " <= char <= "~":
                raise _Invalid
            else:
                out.append(char)
                pos += 1
        raise _Invalid
    if char == "?":
        if text[pos + 1 : pos + 2] in ("0", "1"):
            return text[pos + 1] == "1", pos + 2
        raise _Invalid
    for pattern in (_INTEGER_OR_DECIMAL, _TOKEN, _BYTES):
        if match := pattern.match(text, pos):
            return match.group(), match.end()
    raise _Invalid


def _parameters(text: str, pos: int) -> int:
    """Skip ``;key[=item]`` parameters (their meaning is not used by any directive)."""
    while pos < len(text) and text[pos] == ";":
        pos += 1
        while pos < len(text) and text[pos] == " ":
            pos += 1
        match = _KEY.match(text, pos)
        if match is None:
            raise _Invalid
        pos = match.end()
        if pos < len(text) and text[pos] == "=":
            _, pos = _bare_item(text, pos + 1)
    return pos


def _member_value(text: str, pos: int) -> tuple[str | bool, int]:
    if text[pos : pos + 1] != "(":
        value, pos = _bare_item(text, pos)
        return value, _parameters(text, pos)
    items: list[str] = []
    pos += 1
    while True:
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if pos >= len(text):
            raise _Invalid
        if text[pos] == ")":
            return ", ".join(items), _parameters(text, pos + 1)
        item, pos = _bare_item(text, pos)
        items.append(str(item))
        pos = _parameters(text, pos)
        if pos < len(text) and text[pos] not in " )":
            raise _Invalid


def parse_sf_dictionary(value: str) -> list[tuple[str, str | bool]] | None:
    """The members of a Structured Fields Dictionary, or ``None`` if the value is invalid.

    A member without a value is ``True``; an inner list becomes its items joined by
    ``", "``. Later duplicates override earlier ones, as RFC 8941 §4.2.2 says.
    """
    text = value.strip(" \t")
    if not text:
        return None
    members: dict[str, str | bool] = {}
    pos = 0
    try:
        while pos < len(text):
            match = _KEY.match(text, pos)
            if match is None:
                raise _Invalid
            key, pos = match.group(), match.end()
            if pos < len(text) and text[pos] == "=":
                member, pos = _member_value(text, pos + 1)
            else:
                member, pos = True, _parameters(text, pos)
            members[key] = member
            while pos < len(text) and text[pos] in " \t":
                pos += 1
            if pos >= len(text):
                break
            if text[pos] != ",":
                raise _Invalid
            pos += 1
            while pos < len(text) and text[pos] in " \t":
                pos += 1
            if pos >= len(text):
                raise _Invalid  # a trailing comma
    except _Invalid:
        return None
    return list(members.items())


def targeted_directives(headers: Headers, targets: Sequence[str]) -> ResponseDirectives | None:
    """Directives from the first valid targeted field in ``targets``, or ``None``.

    RFC 9213 §2.2: "the cache MUST select the first (in target list order) field with a
    valid value and use its value to determine the caching policy for the response, and
    it MUST ignore the Cache-Control and Expires header fields in that response, unless
    no valid targeted field is available."
    RFC 9213 §2.1: "if a targeted field in a given response is empty, or a parsing error
    is encountered, that field MUST be ignored by the cache".
    """
    for target in targets:
        lines = headers.get_all(target)
        if not lines:
            continue
        members = parse_sf_dictionary(", ".join(lines))
        if members is None:
            continue
        pairs: list[tuple[str, str | None]] = []
        for name, member in members:
            if member is True:
                pairs.append((name, None))
            elif member is not False:
                pairs.append((name, str(member)))
        return ResponseDirectives.from_pairs(pairs)
    return None
