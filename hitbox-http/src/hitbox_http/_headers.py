"""An immutable, ordered, case-insensitive multi-map of HTTP header fields.

Field names are kept lower-cased (as ASGI and HTTP/2 carry them); values are ``str``
decoded as latin-1, so any byte an origin sends survives a round trip unchanged.
Repeated fields keep their order and are never merged implicitly: list-based fields are
combined only where a parser asks for it (RFC 9110 §5.3).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Final, final, overload

__all__ = ["Headers", "split_list"]


@final
class Headers:
    """Header fields in the order they were received, names lower-cased.

    Example::

        headers = Headers([("Content-Type", "text/plain"), ("Vary", "Accept")])
        headers.get("content-type")         # "text/plain"
        headers.set("Age", "3").get("age")  # a new Headers; the original is unchanged
    """

    __slots__ = ("_extends", "_items", "_lines", "_names", "_raw")

    _items: tuple[tuple[str, str], ...]
    _names: frozenset[str] | None
    _raw: list[tuple[bytes, bytes]] | None
    _lines: bytes | None
    _extends: tuple[Headers, list[tuple[bytes, bytes]]] | None

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items = tuple((name.lower(), value) for name, value in items)
        self._names = None
        self._raw = None
        self._lines = None
        self._extends = None

    @classmethod
    def _trusted(cls, items: tuple[tuple[str, str], ...]) -> Headers:
        # Skips lower-casing: callers pass names that are already lower-case.
        headers = cls.__new__(cls)
        headers._items = items
        headers._names = None
        headers._raw = None
        headers._lines = None
        headers._extends = None
        return headers

    @classmethod
    def from_raw(cls, raw: Iterable[tuple[bytes, bytes]]) -> Headers:
        """Headers from ASGI-style ``(name, value)`` byte pairs."""
        return cls._trusted(
            tuple((name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in raw)
        )

    def raw(self) -> list[tuple[bytes, bytes]]:
        """The fields as ASGI-style byte pairs (a new list; encoded once per object)."""
        raw = self._raw
        if raw is None:
            raw = self._raw = [
                (name.encode("latin-1"), value.encode("latin-1")) for name, value in self._items
            ]
        return list(raw)

    def extended(self, items: tuple[tuple[str, str], ...]) -> Headers:
        """A copy with lower-cased ``items`` appended; reuses this object's encodings
        (a stored response's fields are encoded once, only the appended ones per copy)."""
        headers = Headers._trusted(self._items + items)
        if self._raw is not None:
            added = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in items]
            headers._raw = self._raw + added
            headers._extends = (self, added)  # field lines: this object's, then these
        return headers

    def field_lines(self) -> bytes:
        """The fields as HTTP/1.1 field lines, ``name: value\r\n`` each (encoded once
        per object); ``ValueError`` for a name that is not a token or a value holding a
        CR, LF or NUL, which would break the message's framing."""
        lines = self._lines
        if lines is None:
            if self._extends is not None:
                base, added = self._extends
                lines = base.field_lines() + _field_lines(added)
            else:
                lines = _field_lines(self.raw())
            self._lines = lines
        return lines

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of field ``name`` (case-insensitive), or ``default``."""
        name = name.lower()
        if name not in (self._names or self.names()):
            return default
        for key, value in self._items:
            if key == name:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of field ``name``, one per field line, in order."""
        name = name.lower()
        if name not in (self._names or self.names()):
            return []
        return [value for key, value in self._items if key == name]

    def get_list(self, name: str) -> list[str]:
        """The members of a list-based field, all field lines combined (RFC 9110 §5.6.1).

        Empty members are dropped and commas inside quoted strings do not split.
        """
        members: list[str] = []
        for value in self.get_all(name):
            members.extend(split_list(value))
        return members

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in (self._names or self.names())

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._items == other._items

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"

    def names(self) -> frozenset[str]:
        """The distinct field names present (computed once)."""
        names = self._names
        if names is None:
            names = self._names = frozenset(key for key, _ in self._items)
        return names

    def set(self, name: str, value: str) -> Headers:
        """A copy where field ``name`` has exactly one line, ``value``, at the end."""
        name = name.lower()
        kept = tuple(item for item in self._items if item[0] != name)
        return Headers._trusted((*kept, (name, value)))

    def add(self, name: str, value: str) -> Headers:
        """A copy with one more ``name: value`` line at the end."""
        return Headers._trusted((*self._items, (name.lower(), value)))

    def without(self, *names: str) -> Headers:
        """A copy without any line of the given fields."""
        # Most callers pass names that are absent: that answer costs one C-level pass.
        drop = self.names().intersection(map(str.lower, names))
        if not drop:
            return self
        return Headers._trusted(tuple(item for item in self._items if item[0] not in drop))

    def only(self, *names: str) -> Headers:
        """A copy with only the lines of the given fields, in their order."""
        keep = self.names().intersection(map(str.lower, names))
        return Headers._trusted(tuple(item for item in self._items if item[0] in keep))

    def updated(self, newer: Headers, *, keep: Iterable[str] = ()) -> Headers:
        """A copy where every field present in ``newer`` replaces all lines of that field.

        Fields named in ``keep`` are never replaced. Used to freshen a stored response
        from a 304 (RFC 9111 §3.2).
        """
        keep_set = {name.lower() for name in keep}
        replaced = newer.names() - keep_set
        if not replaced:
            return self
        kept = tuple(item for item in self._items if item[0] not in replaced)
        added = tuple(item for item in newer._items if item[0] in replaced)
        return Headers._trusted(kept + added)


_INVALID_NAME: Final = re.compile(rb"[^!#$%&'*+\-.^_`|~0-9A-Za-z]")
_INVALID_VALUE: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def _field_lines(raw: list[tuple[bytes, bytes]]) -> bytes:
    names = b"".join(name for name, _ in raw)
    values = b"".join(value for _, value in raw)
    # One search over all names and one over all values: no field line may smuggle a
    # CR, LF or NUL into a message.
    if _INVALID_NAME.search(names) or any(not name for name, _ in raw):
        raise ValueError("invalid header field name")
    if _INVALID_VALUE.search(values):
        raise ValueError("invalid header field value")
    return b"".join(b"%s: %s\r\n" % pair for pair in raw)


def split_list(value: str) -> list[str]:
    """Split one list-based field value on commas outside quoted strings.

    Members are stripped of optional whitespace; empty members are dropped, as
    RFC 9110 §5.6.1 requires of recipients. Tolerant: an unterminated quoted string
    runs to the end of the value.
    """
    if '"' not in value:
        return [member for part in value.split(",") if (member := part.strip(" \t"))]
    members: list[str] = []
    start = 0
    in_quotes = False
    escaped = False
    for index, char in enumerate(value):
        if escaped:
            escaped = False
        elif in_quotes and char == "\\":
            escaped = True
        elif char == '"':
            in_quotes = not in_quotes
        elif char == "," and not in_quotes:
            member = value[start:index].strip(" \t")
            if member:
                members.append(member)
            start = index + 1
    member = value[start:].strip(" \t")
    if member:
        members.append(member)
    return members
