"""The ``msgpack`` serializer: MessagePack, with extension types for what it lacks."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final, final

import msgpack  # type: ignore[import-untyped]

from hitbox._serializer_base import UNHANDLED, Base, as_fields, refusal, timedelta_of

__all__ = ["MsgpackSerializer"]

# Extension type codes (0-127 are the application's); each payload is documented inline.
_EXT_DATETIME: Final = 1  # isoformat() text, naive or with offset
_EXT_DATE: Final = 2  # isoformat() text
_EXT_UUID: Final = 3  # the 16 raw bytes
_EXT_DECIMAL: Final = 4  # str() text
_EXT_SET: Final = 5  # packed list of the elements
_EXT_FROZENSET: Final = 6  # packed list of the elements
_EXT_TUPLE: Final = 7  # packed list of the elements (keeps tuples usable as map keys)
_EXT_BIGINT: Final = 8  # two's-complement big-endian bytes (beyond 64 bits)
_EXT_TIMEDELTA: Final = 9  # packed [days, seconds, microseconds]

_PLAIN_BASES: Final[tuple[Callable[[Any], Any], ...]] = (str, int, float, bytes, dict, list)


def _msgpack_pack(value: Any) -> bytes:
    # strict_types: subclasses of builtins (IntEnum, tuples, OrderedDict...) reach _default
    # instead of being silently flattened; big ints reach it instead of raising.
    packed: bytes = msgpack.packb(value, default=_msgpack_default, strict_types=True)
    return packed


def _msgpack_unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False, ext_hook=_msgpack_ext_hook)


def _msgpack_default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return msgpack.ExtType(_EXT_TUPLE, _msgpack_pack(list(value)))
    if type(value) is int:
        size = (value.bit_length() + 8) // 8
        return msgpack.ExtType(_EXT_BIGINT, value.to_bytes(size, "big", signed=True))
    if isinstance(value, dt.datetime):
        return msgpack.ExtType(_EXT_DATETIME, value.isoformat().encode())
    if isinstance(value, dt.date):
        return msgpack.ExtType(_EXT_DATE, value.isoformat().encode())
    if isinstance(value, dt.timedelta):
        parts = [value.days, value.seconds, value.microseconds]
        return msgpack.ExtType(_EXT_TIMEDELTA, _msgpack_pack(parts))
    if isinstance(value, uuid.UUID):
        return msgpack.ExtType(_EXT_UUID, value.bytes)
    if isinstance(value, Decimal):
        return msgpack.ExtType(_EXT_DECIMAL, str(value).encode())
    if isinstance(value, set | frozenset):
        code = _EXT_FROZENSET if isinstance(value, frozenset) else _EXT_SET
        return msgpack.ExtType(code, _msgpack_pack(list(value)))
    plain = as_fields(value)
    if plain is not UNHANDLED:
        return plain
    for base in _PLAIN_BASES:
        if isinstance(value, base):  # type: ignore[arg-type]
            return base(value)
    raise refusal("msgpack", value)


_EXT_DECODERS: Final[Mapping[int, Callable[[bytes], Any]]] = {
    _EXT_DATETIME: lambda data: dt.datetime.fromisoformat(data.decode()),
    _EXT_DATE: lambda data: dt.date.fromisoformat(data.decode()),
    _EXT_UUID: lambda data: uuid.UUID(bytes=data),
    _EXT_DECIMAL: lambda data: Decimal(data.decode()),
    _EXT_SET: lambda data: set(_msgpack_unpack(data)),
    _EXT_FROZENSET: lambda data: frozenset(_msgpack_unpack(data)),
    _EXT_TUPLE: lambda data: tuple(_msgpack_unpack(data)),
    _EXT_BIGINT: lambda data: int.from_bytes(data, "big", signed=True),
    _EXT_TIMEDELTA: lambda data: timedelta_of(_msgpack_unpack(data)),
}


def _msgpack_ext_hook(code: int, data: bytes) -> Any:
    decode = _EXT_DECODERS.get(code)
    return msgpack.ExtType(code, data) if decode is None else decode(data)


@final
class MsgpackSerializer(Base):
    """MessagePack through msgpack, with extension types for what it lacks.

    Natively typed (via extension types 1-9): datetimes (aware and naive), date,
    timedelta, UUID, Decimal, set, frozenset, tuple, ints beyond 64 bits. Models and
    dataclasses come back as dicts. Refuses other objects and strings with lone surrogates.
    """

    __slots__ = ()
    name = "msgpack"

    def _encode(self, value: Any) -> bytes:
        return _msgpack_pack(value)

    def _decode(self, data: bytes) -> Any:
        return _msgpack_unpack(data)
