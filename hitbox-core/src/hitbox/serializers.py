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
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import io
import pickle
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, NoReturn, Protocol, final, runtime_checkable

import cbor2
import msgpack  # type: ignore[import-untyped]
import pydantic
import pydantic_core

from hitbox._errors import SerializationError

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


_SUPPORTED = (
    "None, bool, int, float, str, bytes, list, tuple, dict, set, frozenset, datetime, date, "
    "timedelta, UUID, Decimal, Enum, pydantic models and dataclasses"
)
_UNHANDLED: Final = object()


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return (
            tp.__qualname__ if tp.__module__ == "builtins" else f"{tp.__module__}.{tp.__qualname__}"
        )
    return repr(tp)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _refuse(serializer: str, value: Any) -> NoReturn:
    raise SerializationError(
        f"{serializer} serializer cannot encode a value of type {_type_name(type(value))}; "
        f"it supports {_SUPPORTED}"
    )


def _encode_failed(serializer: str, value: Any, exc: Exception) -> SerializationError:
    return SerializationError(
        f"{serializer} serializer cannot encode a value of type {_type_name(type(value))}: "
        f"{_first_line(exc)}"
    )


def _decode_failed(serializer: str, data: Any, exc: Exception) -> SerializationError:
    if isinstance(data, bytes | bytearray | memoryview):
        what = f"{len(data)} bytes"
    else:
        what = f"a {_type_name(type(data))} (expected bytes)"
    return SerializationError(f"{serializer} serializer cannot decode {what}: {_first_line(exc)}")


def _as_fields(value: Any) -> Any:
    """Plain data for values the binary formats lack a type for, or ``_UNHANDLED``."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, pydantic.BaseModel):
        # by_alias: validation accepts aliases by default, so the dump must use them too.
        return value.model_dump(mode="python", by_alias=True, round_trip=True)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    return _UNHANDLED


# -- typed restore -----------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _cached_adapter(type_hint: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(type_hint)


def _adapter(serializer: str, type_hint: Any) -> pydantic.TypeAdapter[Any]:
    """The (cached) ``TypeAdapter`` for ``type_hint``: built once, reused on every hit."""
    try:
        try:
            hash(type_hint)
        except TypeError:  # e.g. Annotated[...] with unhashable metadata: build, don't cache
            return pydantic.TypeAdapter(type_hint)
        return _cached_adapter(type_hint)
    except Exception as exc:
        raise SerializationError(
            f"{serializer} serializer cannot restore values as {_type_name(type_hint)}: "
            f"{_first_line(exc)}"
        ) from exc


def _restore_failed(serializer: str, type_hint: Any, exc: Exception) -> SerializationError:
    if isinstance(exc, pydantic.ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "<root>"
        detail = f"{exc.error_count()} validation error(s), first at {where}: {first['msg']}"
    else:
        detail = _first_line(exc)
    return SerializationError(
        f"{serializer} serializer cannot restore the stored value as "
        f"{_type_name(type_hint)}: {detail}"
    )


def _restore(serializer: str, value: Any, type_hint: Any) -> Any:
    """``value`` (decoded plain data) as an instance of ``type_hint``."""
    if type_hint is Any or type_hint is object or type(value) is type_hint:
        return value
    adapter = _adapter(serializer, type_hint)
    try:
        # Lax mode: the data is our own encoding of a valid value (tuples came back as
        # lists, dataclasses as dicts), which a strict model would otherwise refuse.
        return adapter.validate_python(value, strict=False)
    except Exception as exc:
        raise _restore_failed(serializer, type_hint, exc) from exc


def _timedelta(parts: Any) -> dt.timedelta:
    days, seconds, microseconds = parts
    return dt.timedelta(days=days, seconds=seconds, microseconds=microseconds)


def _check_consumed(stream: io.BytesIO, data: bytes) -> None:
    if stream.tell() != len(data):
        raise ValueError(f"{len(data) - stream.tell()} trailing bytes after the value")


class _Base:
    """Stateless serializer skeleton: subclasses supply ``_encode`` and ``_decode``."""

    __slots__ = ()
    name: str = ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def dumps(self, value: Any) -> bytes:
        """Encode ``value``; :class:`hitbox.SerializationError` names what was refused."""
        try:
            return self._encode(value)
        except SerializationError:
            raise
        except Exception as exc:
            raise _encode_failed(self.name, value, exc) from exc

    def loads(self, data: bytes, type_hint: Any = None) -> Any:
        """Decode ``data`` (exactly one value: trailing bytes are an error), as ``type_hint``."""
        try:
            value = self._decode(data)
        except Exception as exc:
            raise _decode_failed(self.name, data, exc) from exc
        return value if type_hint is None else _restore(self.name, value, type_hint)

    def _encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def _decode(self, data: bytes) -> Any:
        raise NotImplementedError


# -- cbor --------------------------------------------------------------------------------

# CBOR has no tag for naive datetimes (tag 0 requires an offset) nor for durations; these
# private tags ("hb" + n) keep them round-tripping. cbor2 returns other unknown tags as-is.
_CBOR_NAIVE_DATETIME_TAG: Final = 0x6862_0001
_CBOR_TIMEDELTA_TAG: Final = 0x6862_0002


def _cbor_datetime(encoder: cbor2.CBOREncoder, value: Any) -> None:
    if value.utcoffset() is None:
        encoder.encode(cbor2.CBORTag(_CBOR_NAIVE_DATETIME_TAG, value.isoformat()))
    else:
        encoder.encode_datetime(value)


def _cbor_default(encoder: cbor2.CBOREncoder, value: Any) -> None:
    if isinstance(value, dt.timedelta):
        parts = [value.days, value.seconds, value.microseconds]
        encoder.encode(cbor2.CBORTag(_CBOR_TIMEDELTA_TAG, parts))
        return
    plain = _as_fields(value)
    if plain is _UNHANDLED:
        _refuse("cbor", value)
    encoder.encode(plain)


def _cbor_tag_hook(tag: cbor2.CBORTag, immutable: bool) -> Any:
    if tag.tag == _CBOR_NAIVE_DATETIME_TAG:
        return dt.datetime.fromisoformat(tag.value)
    if tag.tag == _CBOR_TIMEDELTA_TAG:
        return _timedelta(tag.value)
    return tag


_CBOR_ENCODERS: Final[Mapping[type, Callable[[cbor2.CBOREncoder, Any], None]]] = {
    dt.datetime: _cbor_datetime
}


@final
class CborSerializer(_Base):
    """CBOR (RFC 8949) through cbor2: compact, binary, the default.

    Natively typed: bytes, big ints, datetimes (aware and naive; zone names become fixed
    offsets), date, timedelta, UUID, Decimal, set. Tuples come back as lists (except as
    map keys), models and dataclasses as dicts. Refuses other objects (``SerializationError``),
    strings with lone surrogates, and - on decode - nesting deeper than 400 levels.
    """

    __slots__ = ()
    name = "cbor"

    def _encode(self, value: Any) -> bytes:
        try:
            return cbor2.dumps(value, default=_cbor_default)
        except cbor2.CBOREncodeError:
            # cbor2 refuses naive datetimes before asking `default`; the `encoders` override
            # that handles them doubles the cost of every call, so only values that need it
            # take that path.
            return cbor2.dumps(value, default=_cbor_default, encoders=_CBOR_ENCODERS)

    def _decode(self, data: bytes) -> Any:
        stream = io.BytesIO(data)
        value = cbor2.CBORDecoder(stream, tag_hook=_cbor_tag_hook).decode()
        _check_consumed(stream, data)
        return value


# -- msgpack -----------------------------------------------------------------------------

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
    plain = _as_fields(value)
    if plain is not _UNHANDLED:
        return plain
    for base in _PLAIN_BASES:
        if isinstance(value, base):  # type: ignore[arg-type]
            return base(value)
    _refuse("msgpack", value)


_EXT_DECODERS: Final[Mapping[int, Callable[[bytes], Any]]] = {
    _EXT_DATETIME: lambda data: dt.datetime.fromisoformat(data.decode()),
    _EXT_DATE: lambda data: dt.date.fromisoformat(data.decode()),
    _EXT_UUID: lambda data: uuid.UUID(bytes=data),
    _EXT_DECIMAL: lambda data: Decimal(data.decode()),
    _EXT_SET: lambda data: set(_msgpack_unpack(data)),
    _EXT_FROZENSET: lambda data: frozenset(_msgpack_unpack(data)),
    _EXT_TUPLE: lambda data: tuple(_msgpack_unpack(data)),
    _EXT_BIGINT: lambda data: int.from_bytes(data, "big", signed=True),
    _EXT_TIMEDELTA: lambda data: _timedelta(_msgpack_unpack(data)),
}


def _msgpack_ext_hook(code: int, data: bytes) -> Any:
    decode = _EXT_DECODERS.get(code)
    return msgpack.ExtType(code, data) if decode is None else decode(data)


@final
class MsgpackSerializer(_Base):
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


# -- json --------------------------------------------------------------------------------


@final
class JsonSerializer(_Base):
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
        adapter = _adapter(self.name, type_hint)
        try:
            # JSON mode parses ISO strings into datetimes even for strict models.
            return adapter.validate_json(data)
        except Exception as exc:
            raise _restore_failed(self.name, type_hint, exc) from exc


# -- raw ---------------------------------------------------------------------------------


@final
class RawSerializer(_Base):
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
            f"raw serializer cannot encode a value of type {_type_name(type(value))}: "
            f"it stores bytes only; encode the value first or choose cbor or json"
        )

    def loads(self, data: bytes, type_hint: Any = None) -> Any:
        """``data`` as ``bytes``."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise _decode_failed(self.name, data, TypeError("expected bytes"))
        value = bytes(data)
        return value if type_hint is None else _restore(self.name, value, type_hint)


# -- pickle ------------------------------------------------------------------------------


@final
class PickleSerializer(_Base):
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
        _check_consumed(stream, data)
        return value

    def loads(self, data: bytes, type_hint: Any = None) -> Any:
        """Unpickle exactly one pickle; objects already of ``type_hint`` pass unvalidated."""
        value = super().loads(data)
        if type_hint is None or (isinstance(type_hint, type) and isinstance(value, type_hint)):
            return value
        return _restore(self.name, value, type_hint)


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
