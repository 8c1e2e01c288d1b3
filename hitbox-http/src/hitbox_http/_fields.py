"""Tolerant parsers for the other fields caching depends on: Age, Vary and entity tags.

Each parser takes what a peer sent and never raises; its docstring says how it reads
malformed input and why that reading is the safe one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, final

from hitbox_http._directives import parse_delta_seconds
from hitbox_http._headers import Headers, split_list

__all__ = [
    "EntityTag",
    "parse_age",
    "parse_entity_tag",
    "parse_entity_tag_list",
    "parse_vary",
    "strong_match",
    "weak_match",
]


def parse_age(headers: Headers) -> int:
    """The ``Age`` of a response in seconds (RFC 9111 §5.1); ``0`` when absent or invalid.

    §5.1: "a cache encountering a message with a list-based Age field value SHOULD use
    the first member of the field value, discarding subsequent ones." and "If the field
    value (after discarding additional members, as per above) is invalid (e.g., it
    contains something other than a non-negative integer), a cache SHOULD ignore the
    field." Repeated lines are one list (RFC 9110 §5.3). Ignoring ``Age`` never makes a
    response look fresher than its ``Date`` says: the age used is the larger of the two
    (§4.2.3, :func:`hitbox_http._freshness.assess`).
    """
    values = headers.get_list("age")
    if not values:
        return 0
    return parse_delta_seconds(values[0]) or 0


def parse_vary(headers: Headers) -> tuple[str, ...]:
    """The lower-cased, de-duplicated field names in ``Vary``, or ``("*",)``.

    RFC 9111 §4.1: "A stored response with a Vary header field value containing a member
    "*" always fails to match." A ``*`` anywhere in the list therefore wins.
    """
    names: list[str] = []
    for member in headers.get_list("vary"):
        name = member.lower()
        if name == "*":
            return ("*",)
        if name not in names:
            names.append(name)
    return tuple(names)


@final
@dataclass(frozen=True, slots=True)
class EntityTag:
    """An entity tag (RFC 9110 §8.8.3): the opaque value without quotes, and weakness."""

    opaque: str
    weak: bool = False

    def __str__(self) -> str:
        return f'{"W/" if self.weak else ""}"{self.opaque}"'


_MAX_TAGS: Final = 64


def parse_entity_tag(value: str | None) -> EntityTag | None:
    """An ``ETag`` value, or ``None`` if absent or empty.

    Tolerant: an unquoted value (a common origin bug) is taken as a strong tag with that
    text, so validation still works against the same origin; ``W/`` is case-insensitive.
    """
    if value is None:
        return None
    text = value.strip(" \t")
    weak = text[:2] in ("W/", "w/")
    if weak:
        text = text[2:].lstrip(" \t")
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    elif text.startswith('"'):
        text = text[1:]
    if not text or '"' in text:
        return None
    return EntityTag(text, weak)


def parse_entity_tag_list(values: list[str]) -> tuple[EntityTag, ...] | None:
    """An ``If-None-Match`` / ``If-Match`` list; ``None`` stands for ``*`` (any tag).

    Members that are not entity tags are skipped; at most 64 are kept.
    """
    tags: list[EntityTag] = []
    for value in values:
        for member in split_list(value):
            if member == "*":
                return None
            tag = parse_entity_tag(member)
            if tag is not None and len(tags) < _MAX_TAGS:
                tags.append(tag)
    return tuple(tags)


def strong_match(first: EntityTag | None, second: EntityTag | None) -> bool:
    """RFC 9110 §8.8.3.2: "Two entity tags are equivalent if both are not weak and their
    opaque-tags match character-by-character."
    """
    return (
        first is not None
        and second is not None
        and not first.weak
        and not second.weak
        and first.opaque == second.opaque
    )


def weak_match(first: EntityTag | None, second: EntityTag | None) -> bool:
    """RFC 9110 §8.8.3.2: "Two entity tags are equivalent if their opaque-tags match
    character-by-character, regardless of either or both being tagged as "weak"."
    """
    return first is not None and second is not None and first.opaque == second.opaque
