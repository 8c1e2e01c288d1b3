"""The default key strategy's value encoding: unambiguous, self-delimiting text.

Every encoding starts with a type tag and can be parsed back (the tests do), so distinct
argument values never share a key. This is the slow path of a compiled key function:
exact ``int`` and ``str`` arguments are encoded inline by the generated code, with the
same results as here. The grammar is listed in :mod:`hitbox.keys`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import hashlib
import inspect
import pathlib
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Final

import pydantic

from hitbox._errors import KeyStrategyError

__all__ = [
    "NO_DEFAULT",
    "SENTINEL",
    "Unencodable",
    "argument_explainer",
    "default_encoding",
    "encode",
    "shorten",
    "template_renderer",
]


class Unencodable(Exception):  # noqa: N818 - internal signal, turned into KeyStrategyError
    """``value`` (the argument or something inside it) has no unambiguous encoding."""

    def __init__(self, value: object, reason: str) -> None:
        super().__init__(reason)
        self.value = value
        self.reason = reason


def sized(text: str) -> str:
    """``text`` length-prefixed (``3:abc``): self-delimiting whatever it contains."""
    return f"{len(text)}:{text}"


def type_name(tp: type) -> str:
    """``module.QualName`` of ``tp``."""
    return f"{tp.__module__}.{tp.__qualname__}"


def encode(value: object) -> str:
    """The default-key encoding of ``value``; raises :class:`Unencodable`."""
    encoder = _EXACT.get(type(value))
    return encoder(value) if encoder is not None else _encode_other(value)


def _encode_int(value: int) -> str:
    try:
        return f"i{value}"
    except ValueError:  # more digits than sys.get_int_max_str_digits() allows
        return f"I{value:x}"


def _encode_items(value: Iterable[Any]) -> str:
    # Inline int/str dispatch: containers of plain ints and strings are the common case.
    parts = []
    for item in value:
        kind = type(item)
        if kind is str:
            parts.append(f"s{len(item)}:{item}")
        elif kind is int:
            parts.append(_encode_int(item))
        else:
            parts.append(encode(item))
    return ",".join(parts)


def _encode_dict(value: dict[Any, Any]) -> str:
    items = sorted(f"{encode(k)}={encode(v)}" for k, v in value.items())
    return "m{" + ",".join(items) + "}"


def _encode_set(value: Iterable[Any]) -> str:
    return "{" + ",".join(sorted(map(encode, value))) + "}"


def _encode_bytes(value: bytes | bytearray) -> str:
    return f"b{value.hex()}"


_EXACT: Final[dict[type, Callable[[Any], str]]] = {
    type(None): lambda v: "N",
    bool: lambda v: "T" if v else "F",
    int: _encode_int,
    float: lambda v: f"f{v!r}",
    str: lambda v: f"s{len(v)}:{v}",
    bytes: _encode_bytes,
    bytearray: _encode_bytes,
    tuple: lambda v: f"({_encode_items(v)})",
    list: lambda v: f"[{_encode_items(v)}]",
    set: _encode_set,
    frozenset: _encode_set,
    dict: _encode_dict,
    uuid.UUID: lambda v: f"u{uuid.UUID.__str__(v)}",
    decimal.Decimal: lambda v: f"n{decimal.Decimal.__str__(v)}",
    dt.datetime: lambda v: f"D{v.isoformat()}",
    dt.date: lambda v: f"d{v.isoformat()}",
    dt.time: lambda v: f"t{v.isoformat()}",
    dt.timedelta: lambda v: f"p{v.days}_{v.seconds}_{v.microseconds}",
}

# Subclasses are encoded like their base (they compare equal to it); order matters:
# datetime before date.
_BASES: Final = (
    *(bytes, bytearray, tuple, list, set, frozenset, dict),
    *(uuid.UUID, decimal.Decimal, dt.datetime, dt.date, dt.time, dt.timedelta),
)


def _encode_other(value: object) -> str:
    tp = type(value)
    hook = getattr(tp, "__cache_key__", None)
    if hook is not None and not isinstance(value, type):
        text = hook(value)
        if type(text) is not str:
            raise Unencodable(value, f"whose __cache_key__() returned {type(text).__name__}")
        return f"k{sized(type_name(tp))}{sized(text)}"
    if isinstance(value, enum.Enum):
        return f"e{sized(type_name(tp))}{sized(value.name)}"
    # Subclasses of int, float and str may override their text forms: use the base's.
    if isinstance(value, int):
        return _encode_int(int.__int__(value))
    if isinstance(value, float):
        return f"f{float.__repr__(value)}"
    if isinstance(value, str):
        return _EXACT[str](str.__str__(value))
    for base in _BASES:
        if isinstance(value, base):
            return _EXACT[base](value)
    if isinstance(value, type):
        return f"c{sized(type_name(value))}"
    if isinstance(value, pathlib.PurePath):
        return f"P{sized(type_name(tp))}{sized(str(value))}"
    if dataclasses.is_dataclass(value):
        fields = [encode(getattr(value, f.name)) for f in dataclasses.fields(value) if f.compare]
        return f"o{sized(type_name(tp))}({','.join(fields)})"
    if isinstance(value, pydantic.BaseModel):
        fields = [encode(getattr(value, name)) for name in tp.model_fields]  # type: ignore[attr-defined]
        if value.model_extra is not None:
            fields.append(_encode_dict(value.model_extra))
        return f"o{sized(type_name(tp))}({','.join(fields)})"
    if tp.__repr__ is object.__repr__:
        raise Unencodable(value, "whose repr carries a memory address")
    raise Unencodable(value, "which the default key strategy cannot encode unambiguously")


def argument_explainer(label: str) -> Callable[[Exception, tuple[Any, ...]], KeyStrategyError]:
    """What went wrong in one compiled function's default key, naming the argument.

    The generated code calls the bare encoder (no per-argument wrapper on the hot path);
    on failure it hands the exception and its ``(name, value)`` pairs to this, which
    encodes them again one by one to find the culprit.
    """

    def named(name: str, value: object) -> KeyStrategyError | None:
        try:
            encode(value)
        except Unencodable as exc:
            culprit = type(exc.value)
            where = "is" if exc.value is value else "contains"
            return KeyStrategyError(
                f"cannot build a cache key for {label}: argument {name!r} {where} a "
                f"{type_name(culprit)}, {exc.reason}; pass a key template that picks "
                f'stable fields (key="...{{{name}.<field>}}"), or give '
                f"{culprit.__qualname__} a __cache_key__(self) -> str method"
            )
        except RecursionError:
            return KeyStrategyError(
                f"cannot build a cache key for {label}: argument {name!r} is nested too "
                f"deeply or contains itself; pass a key template (key=...)"
            )
        except Exception as exc:  # a __cache_key__ hook or a field getter failed
            error = KeyStrategyError(
                f"cannot build a cache key for {label}: encoding argument {name!r} raised "
                f"{type(exc).__name__}: {exc}"
            )
            error.__cause__ = exc
            return error
        return None

    def explain(exc: Exception, arguments: tuple[Any, ...]) -> KeyStrategyError:
        for name, value, sentinel in arguments:
            error = None if value is sentinel else named(name, value)
            if error is not None:
                break
        else:  # it failed once but not twice: report the first failure
            error = KeyStrategyError(
                f"cannot build a cache key for {label}: {type(exc).__name__}: {exc}"
            )
            error.__cause__ = exc
        error.__suppress_context__ = True
        return error

    return explain


_CONVERSIONS: Final[dict[str, Callable[[object], str]]] = {"r": repr, "s": str, "a": ascii}


def template_renderer(label: str) -> Callable[[object, str, str, str], str]:
    """Slow-path rendering of one template placeholder (anything but exact int/str)."""

    def render(value: object, conversion: str, spec: str, placeholder: str) -> str:
        original = type(value)
        hook = getattr(type(value), "__cache_key__", None)
        if hook is not None and not isinstance(value, type):
            value = hook(value)
            if type(value) is not str:
                raise KeyStrategyError(
                    f"cannot build a cache key for {label}: {{{placeholder}}}'s "
                    f"__cache_key__() returned {type(value).__name__}, not str"
                )
        text = format(_CONVERSIONS[conversion](value) if conversion else value, spec)
        if " at 0x" in text:
            raise KeyStrategyError(
                f"cannot build a cache key for {label}: {{{placeholder}}} rendered a "
                f"{type_name(original)} as {text!r}, which carries a memory address; "
                f"pick a stable field ({{{placeholder}.<field>}}) or give "
                f"{original.__qualname__} a __cache_key__(self) -> str method"
            )
        return text

    return render


def shorten(key: str, max_length: int) -> str:
    """Keep a readable head and replace the rest by the sha256 of the whole key.

    Unhashed keys are shorter than ``max_length`` and hashed ones exactly that long, so a
    short key can never pose as the hash of a long one.
    """
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key[: max_length - 65]}#{digest}"


SENTINEL: Final = "~"
"""The encoding of a parameter's stateless sentinel default."""

NO_DEFAULT: Final = object()
"""Stands for "no sentinel default" where the generated code passes one."""

_IMMUTABLE: Final = frozenset(
    {type(None), bool, int, float, str, bytes, decimal.Decimal, uuid.UUID}
    | {dt.datetime, dt.date, dt.time, dt.timedelta}
)


def _is_immutable(value: object) -> bool:
    if type(value) in (tuple, frozenset):
        return all(map(_is_immutable, value))  # type: ignore[call-overload]
    return type(value) in _IMMUTABLE or isinstance(value, (enum.Enum, type))


def default_encoding(default: object) -> str | None:
    """The encoding of a parameter's default object, when a call may reuse it as is.

    Immutable defaults are encoded once, here. A stateless unencodable default is a
    sentinel (``_MISSING = object()``): it encodes as ``~`` so calls relying on it are
    cached; any other object of its kind is still refused.
    """
    if default is inspect.Parameter.empty:
        return None
    if _is_immutable(default):
        try:
            return encode(default)
        except Exception:  # refused (or raised) now: refused per call, too
            return None
    state = getattr(default, "__dict__", None)
    if type(default) is object or (state == {} and "__slots__" not in type(default).__dict__):
        return SENTINEL
    return None
