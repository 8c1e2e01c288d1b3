"""What every built-in serializer shares: the skeleton, one-line errors, typed restore.

:class:`Base` turns any exception of a subclass's ``_encode``/``_decode`` into a
:class:`hitbox.SerializationError` whose one line names the serializer and the type.
:func:`restore` makes decoded plain data an instance of a declared type through pydantic's
``TypeAdapter``, built once per type (:func:`cached_adapter`) and reused on every hit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import io
from typing import Any, Final

import pydantic

from hitbox._errors import SerializationError

__all__ = [
    "SUPPORTED",
    "UNHANDLED",
    "Base",
    "type_adapter",
    "as_fields",
    "cached_adapter",
    "check_consumed",
    "decode_failed",
    "encode_failed",
    "first_line",
    "refusal",
    "restore",
    "restore_failed",
    "timedelta_of",
    "type_name",
]

SUPPORTED: Final = (
    "None, bool, int, float, str, bytes, list, tuple, dict, set, frozenset, datetime, date, "
    "timedelta, UUID, Decimal, Enum, pydantic models and dataclasses"
)
"""What the binary serializers encode, for their refusals."""
UNHANDLED: Final = object()
"""What :func:`as_fields` returns for a value it has no plain form for."""


def type_name(tp: Any) -> str:
    """``tp`` as an error message names it (builtins bare, others with their module)."""
    if isinstance(tp, type):
        return (
            tp.__qualname__ if tp.__module__ == "builtins" else f"{tp.__module__}.{tp.__qualname__}"
        )
    return repr(tp)


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (its type name when it has none)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def refusal(serializer: str, value: Any) -> SerializationError:
    """The error for a value of a type ``serializer`` has no encoding for."""
    return SerializationError(
        f"{serializer} serializer cannot encode a value of type {type_name(type(value))}; "
        f"it supports {SUPPORTED}"
    )


def encode_failed(serializer: str, value: Any, exc: Exception) -> SerializationError:
    """The error for ``value`` that ``serializer`` failed to encode with ``exc``."""
    return SerializationError(
        f"{serializer} serializer cannot encode a value of type {type_name(type(value))}: "
        f"{first_line(exc)}"
    )


def decode_failed(serializer: str, data: Any, exc: Exception) -> SerializationError:
    """The error for ``data`` that ``serializer`` failed to decode with ``exc``."""
    if isinstance(data, bytes | bytearray | memoryview):
        what = f"{len(data)} bytes"
    else:
        what = f"a {type_name(type(data))} (expected bytes)"
    return SerializationError(f"{serializer} serializer cannot decode {what}: {first_line(exc)}")


def as_fields(value: Any) -> Any:
    """Plain data for values the binary formats lack a type for, or ``UNHANDLED``."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, pydantic.BaseModel):
        # by_alias: validation accepts aliases by default, so the dump must use them too.
        return value.model_dump(mode="python", by_alias=True, round_trip=True)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    return UNHANDLED


# -- typed restore -----------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def cached_adapter(type_hint: Any) -> pydantic.TypeAdapter[Any]:
    """The ``TypeAdapter`` of a hashable ``type_hint``, built on its first use."""
    return pydantic.TypeAdapter(type_hint)


def type_adapter(serializer: str, type_hint: Any) -> pydantic.TypeAdapter[Any]:
    """The (cached) ``TypeAdapter`` for ``type_hint``: built once, reused on every hit."""
    try:
        try:
            hash(type_hint)
        except TypeError:  # e.g. Annotated[...] with unhashable metadata: build, don't cache
            return pydantic.TypeAdapter(type_hint)
        return cached_adapter(type_hint)
    except Exception as exc:
        raise SerializationError(
            f"{serializer} serializer cannot restore values as {type_name(type_hint)}: "
            f"{first_line(exc)}"
        ) from exc


def restore_failed(serializer: str, type_hint: Any, exc: Exception) -> SerializationError:
    """The error for decoded data that is not a valid ``type_hint`` (the first problem)."""
    if isinstance(exc, pydantic.ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "<root>"
        detail = f"{exc.error_count()} validation error(s), first at {where}: {first['msg']}"
    else:
        detail = first_line(exc)
    return SerializationError(
        f"{serializer} serializer cannot restore the stored value as "
        f"{type_name(type_hint)}: {detail}"
    )


def restore(serializer: str, value: Any, type_hint: Any) -> Any:
    """``value`` (decoded plain data) as an instance of ``type_hint``."""
    if type_hint is Any or type_hint is object or type(value) is type_hint:
        return value
    adapter = type_adapter(serializer, type_hint)
    try:
        # Lax mode: the data is our own encoding of a valid value (tuples came back as
        # lists, dataclasses as dicts), which a strict model would otherwise refuse.
        return adapter.validate_python(value, strict=False)
    except Exception as exc:
        raise restore_failed(serializer, type_hint, exc) from exc


def timedelta_of(parts: Any) -> dt.timedelta:
    """A :class:`datetime.timedelta` from its stored ``[days, seconds, microseconds]``."""
    days, seconds, microseconds = parts
    return dt.timedelta(days=days, seconds=seconds, microseconds=microseconds)


def check_consumed(stream: io.BytesIO, data: bytes) -> None:
    """Refuse bytes left in ``stream`` after one value (``data`` must hold exactly one)."""
    if stream.tell() != len(data):
        raise ValueError(f"{len(data) - stream.tell()} trailing bytes after the value")


class Base:
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
            raise encode_failed(self.name, value, exc) from exc

    def loads(self, data: bytes, type_hint: Any = None) -> Any:
        """Decode ``data`` (exactly one value: trailing bytes are an error), as ``type_hint``."""
        try:
            value = self._decode(data)
        except Exception as exc:
            raise decode_failed(self.name, data, exc) from exc
        return value if type_hint is None else restore(self.name, value, type_hint)

    def _encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def _decode(self, data: bytes) -> Any:
        raise NotImplementedError
