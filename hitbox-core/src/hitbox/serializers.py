"""Serializers: turn values into bytes and back, optionally restoring a declared type.

Built in: ``cbor`` (the default), ``json``, ``msgpack``, ``raw`` (bytes pass-through) and
``pickle``. Pickle is never a default and must be named explicitly: unpickling data from a
shared store is remote code execution for whoever can write to that store.

Pydantic models and dataclasses are written as maps of their fields, so without a type
hint ``loads`` returns plain data (dicts, lists, strings...). When the expected type is
known (a decorated function's return annotation), ``loads(data, type_hint=T)`` restores a
``T`` through pydantic's ``TypeAdapter``, built once per type and cached.

Every failure, in either direction, is a :class:`hitbox.SerializationError` whose one-line
message names the serializer and the offending type; nothing else escapes. See
``docs/serializers.md`` for what each serializer refuses.

This module holds the :class:`Serializer` protocol, the json, raw and pickle serializers
and the registration of the built-ins; the binary formats live in ``_serializer_cbor`` and
``_serializer_msgpack``, what all share (errors, typed restore) in ``_serializer_base``.
"""

from __future__ import annotations

import io
import pickle
from typing import TYPE_CHECKING, Any, Protocol, final, runtime_checkable

import pydantic_core

from hitbox._errors import SerializationError
from hitbox._serializer_base import (
    Base,
    check_consumed,
    decode_failed,
    restore,
    restore_failed,
    type_adapter,
    type_name,
)
from hitbox._serializer_cbor import CborSerializer
from hitbox._serializer_msgpack import MsgpackSerializer

if TYPE_CHECKING:
    from hitbox.plugins import SerializerRegistry

__all__ = [
    "CborSerializer",
    "JsonSerializer",
    "MsgpackSerializer",
    "PickleSerializer",
    "RawSerializer",
    "Serializer",
    "register_builtin_serializers",
]


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


# -- json --------------------------------------------------------------------------------


@final
class JsonSerializer(Base):
    """JSON through pydantic-core: readable, and readable by other languages.

    Writes what pydantic's JSON mode writes: datetimes, dates, timedeltas, UUIDs and
    Decimals as ISO/decimal strings, sets and tuples as arrays, map keys as strings, bytes
    as UTF-8 text, NaN/Infinity as the JavaScript constants. Without a type hint those
    come back as strings and lists; with one, as the declared types. Refuses other objects,
    bytes that are not valid UTF-8 (use cbor or msgpack) and strings with lone surrogates.
    """

    __slots__ = ()
    name = "json"

    def _encode(self, value: Any) -> bytes:
        return pydantic_core.to_json(value, round_trip=True, inf_nan_mode="constants")

    def _decode(self, data: bytes) -> Any:
        return pydantic_core.from_json(data)

    def loads(self, data: bytes, type_hint: Any = None) -> Any:
        """Parse JSON; with ``type_hint``, validate it straight from the JSON text."""
        if type_hint is None or type_hint is Any or type_hint is object:
            return super().loads(data)
        adapter = type_adapter(self.name, type_hint)
        try:
            # JSON mode parses ISO strings into datetimes even for strict models.
            return adapter.validate_json(data)
        except Exception as exc:
            raise restore_failed(self.name, type_hint, exc) from exc


# -- raw ---------------------------------------------------------------------------------


@final
class RawSerializer(Base):
    """Bytes pass-through, for values that already are bytes (rendered pages, images).

    ``dumps`` accepts ``bytes``, ``bytearray`` and ``memoryview`` and refuses everything
    else; ``loads`` returns the bytes (or, with a type hint, validates them as that type).
    """

    __slots__ = ()
    name = "raw"

    def dumps(self, value: Any) -> bytes:
        """``value`` itself, as ``bytes``."""
        if type(value) is bytes:
            return value
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        raise SerializationError(
            f"raw serializer cannot encode a value of type {type_name(type(value))}: "
            f"it stores bytes only; encode the value first or choose cbor or json"
        )

    def loads(self, data: bytes, type_hint: Any = None) -> Any:
        """``data`` as ``bytes``."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise decode_failed(self.name, data, TypeError("expected bytes"))
        value = bytes(data)
        return value if type_hint is None else restore(self.name, value, type_hint)


# -- pickle ------------------------------------------------------------------------------


@final
class PickleSerializer(Base):
    """Python pickle, for arbitrary objects. Explicit only; never a default.

    Unpickling runs code chosen by the bytes: whoever can write to a shared store (a Redis
    reachable by other services, a memcached on the network) can run code in every process
    that reads from it. Use it only with a store nobody else can write to, ideally with a
    signing key on the envelope codec. Refuses what pickle refuses (lambdas, locks, open
    files...). Restores exact types without a type hint.
    """

    __slots__ = ()
    name = "pickle"

    def _encode(self, value: Any) -> bytes:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def _decode(self, data: bytes) -> Any:
        stream = io.BytesIO(data)
        value = pickle.Unpickler(stream).load()  # noqa: S301 - opt-in, documented above
        check_consumed(stream, data)
        return value

    def loads(self, data: bytes, type_hint: Any = None) -> Any:
        """Unpickle exactly one pickle; objects already of ``type_hint`` pass unvalidated."""
        value = super().loads(data)
        if type_hint is None or (isinstance(type_hint, type) and isinstance(value, type_hint)):
            return value
        return restore(self.name, value, type_hint)


def register_builtin_serializers(registry: SerializerRegistry) -> None:
    """Register ``cbor``, ``json``, ``msgpack``, ``raw`` and ``pickle`` into ``registry``."""
    registry.add("cbor", CborSerializer, description="CBOR via cbor2: compact binary (default)")
    registry.add("json", JsonSerializer, description="JSON via pydantic-core: readable, portable")
    registry.add("msgpack", MsgpackSerializer, description="MessagePack: compact binary")
    registry.add("raw", RawSerializer, description="bytes pass-through; refuses other values")
    registry.add(
        "pickle",
        PickleSerializer,
        description="Python pickle: any object; unsafe with a shared store (explicit only)",
    )
