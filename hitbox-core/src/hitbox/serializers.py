"""Serializers: turn values into bytes and back, optionally restoring a declared type.

Built in: ``cbor`` (the default), ``json``, ``msgpack``, ``raw`` (bytes pass-through) and
``pickle``. Pickle is never a default and must be named explicitly: unpickling data from a
shared store is remote code execution for whoever can write to that store.

When the expected type is known (a decorated function's return annotation),
``loads(data, type_hint=T)`` restores a ``T`` through pydantic's ``TypeAdapter``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["Serializer"]


@runtime_checkable
class Serializer(Protocol):
    """Turns values into bytes and back. Implementations raise ``SerializationError``."""

    name: str

    def dumps(self, value: Any) -> bytes:
        """Encode ``value``; raise :class:`hitbox.SerializationError` if it cannot be."""
        ...

    def loads(self, data: bytes, type_hint: Any = None) -> Any:
        """Decode ``data``; when ``type_hint`` is given, return an instance of that type."""
        ...
