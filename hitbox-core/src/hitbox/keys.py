"""Key strategies: turn a call (or a template) into a cache key string.

Templates (``"user:{user_id}"``) are compiled once; the default strategy encodes the
function's qualified name and its bound arguments unambiguously, hashing long keys.
Namespace and version prefixes are part of the strategy.

The key function runs on every cache hit, so :meth:`DefaultKeyStrategy.compile` generates
(with ``exec``, as :mod:`dataclasses` does) a function with the decorated function's own
parameter list: the interpreter binds arguments and applies defaults, and the body only
concatenates strings, with ``int``/``str`` fast paths before the generic encoder.

Default-key grammar (every encoding is self-delimiting, so distinct argument values give
distinct keys): ``N`` None, ``T``/``F`` bools, ``i42`` int (``I<hex>`` beyond
``sys.get_int_max_str_digits()``), ``f1.5`` float (``repr``),
``s3:abc`` str (length-prefixed), ``b00ff`` bytes (hex), ``u<uuid>``, ``n<decimal>``,
``D``/``d``/``t`` + ISO datetime/date/time, ``p<days>_<s>_<us>`` timedelta,
``(…)`` tuple, ``[…]`` list, ``{…}`` set (sorted), ``m{k=v,…}`` dict (sorted),
``e``/``c``/``P``/``k``/``o`` + length-prefixed type name for enums, classes, paths,
``__cache_key__`` objects and dataclass/pydantic field values, and ``~`` for a
parameter's stateless sentinel default (``_MISSING = object()``). Scalars never contain
``,=()[]{}``; only length-prefixed strings may.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import hashlib
import inspect
import pathlib
import string
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final, Protocol, cast, final, runtime_checkable

import pydantic

from hitbox._errors import ConfigError, KeyStrategyError

if TYPE_CHECKING:
    from hitbox.plugins import KeyStrategyRegistry

__all__ = [
    "DefaultKeyStrategy",
    "KeyFunction",
    "KeyStrategy",
    "register_builtin_key_strategies",
]

KeyFunction = Callable[..., str]
"""A compiled key function: called with the decorated function's own arguments."""


@runtime_checkable
class KeyStrategy(Protocol):
    """Builds cache keys. Compiles per function once; the result runs on every call."""

    def compile(self, func: Callable[..., Any], template: str | None = None) -> KeyFunction:
        """A fast key function for ``func`` (same parameters as ``func``)."""
        ...

    def compile_tags(
        self, func: Callable[..., Any], templates: tuple[str, ...]
    ) -> Callable[..., tuple[str, ...]]:
        """A function returning the rendered tag templates for a call of ``func``."""
        ...

    def make_key(self, raw_key: str) -> str:
        """Apply namespace/version prefixes and long-key hashing to an explicit key."""
        ...


# --- the unambiguous value encoder (slow path: anything but an exact int or str) ---------


class _Unencodable(Exception):  # noqa: N818 - internal signal, turned into KeyStrategyError
    def __init__(self, value: object, reason: str) -> None:
        super().__init__(reason)
        self.value = value
        self.reason = reason


def _sized(text: str) -> str:
    return f"{len(text)}:{text}"


def _type_name(tp: type) -> str:
    return f"{tp.__module__}.{tp.__qualname__}"


def _encode(value: object) -> str:
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
            parts.append(_encode(item))
    return ",".join(parts)


def _encode_dict(value: dict[Any, Any]) -> str:
    items = sorted(f"{_encode(k)}={_encode(v)}" for k, v in value.items())
    return "m{" + ",".join(items) + "}"


def _encode_set(value: Iterable[Any]) -> str:
    return "{" + ",".join(sorted(map(_encode, value))) + "}"


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
            raise _Unencodable(value, f"whose __cache_key__() returned {type(text).__name__}")
        return f"k{_sized(_type_name(tp))}{_sized(text)}"
    if isinstance(value, enum.Enum):
        return f"e{_sized(_type_name(tp))}{_sized(value.name)}"
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
        return f"c{_sized(_type_name(value))}"
    if isinstance(value, pathlib.PurePath):
        return f"P{_sized(_type_name(tp))}{_sized(str(value))}"
    if dataclasses.is_dataclass(value):
        fields = [_encode(getattr(value, f.name)) for f in dataclasses.fields(value) if f.compare]
        return f"o{_sized(_type_name(tp))}({','.join(fields)})"
    if isinstance(value, pydantic.BaseModel):
        fields = [_encode(getattr(value, name)) for name in tp.model_fields]  # type: ignore[attr-defined]
        if value.model_extra is not None:
            fields.append(_encode_dict(value.model_extra))
        return f"o{_sized(_type_name(tp))}({','.join(fields)})"
    if tp.__repr__ is object.__repr__:
        raise _Unencodable(value, "whose repr carries a memory address")
    raise _Unencodable(value, "which the default key strategy cannot encode unambiguously")


def _argument_explainer(label: str) -> Callable[[Exception, tuple[Any, ...]], KeyStrategyError]:
    """What went wrong in one compiled function's default key, naming the argument.

    The generated code calls the bare encoder (no per-argument wrapper on the hot path);
    on failure it hands the exception and its ``(name, value)`` pairs to this, which
    encodes them again one by one to find the culprit.
    """

    def named(name: str, value: object) -> KeyStrategyError | None:
        try:
            _encode(value)
        except _Unencodable as exc:
            culprit = type(exc.value)
            where = "is" if exc.value is value else "contains"
            return KeyStrategyError(
                f"cannot build a cache key for {label}: argument {name!r} {where} a "
                f"{_type_name(culprit)}, {exc.reason}; pass a key template that picks "
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


def _template_renderer(label: str) -> Callable[[object, str, str, str], str]:
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
                f"{_type_name(original)} as {text!r}, which carries a memory address; "
                f"pick a stable field ({{{placeholder}.<field>}}) or give "
                f"{original.__qualname__} a __cache_key__(self) -> str method"
            )
        return text

    return render


def _shorten(key: str, max_length: int) -> str:
    """Keep a readable head and replace the rest by the sha256 of the whole key.

    Unhashed keys are shorter than ``max_length`` and hashed ones exactly that long, so a
    short key can never pose as the hash of a long one.
    """
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key[: max_length - 65]}#{digest}"


# --- code generation ----------------------------------------------------------------------

_SELF_NAMES: Final = frozenset({"self", "cls"})
_FSTRING_SAFE: Final = frozenset(
    string.ascii_letters + string.digits + " !#$%&'()*+,-./:;<=>?@[]^_`|~"
)
_P = inspect.Parameter


def _parameters(func: Callable[..., Any], label: str) -> list[inspect.Parameter]:
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError) as exc:
        raise KeyStrategyError(f"cannot compile a cache key for {label}: {exc}") from None
    for param in params:
        if not param.name.isidentifier():
            raise KeyStrategyError(
                f"cannot compile a cache key for {label}: parameter name {param.name!r} "
                f"is not an identifier"
            )
    return params


@final
class _Source:
    """The generated key function's source lines and the globals they refer to."""

    def __init__(self, params: list[inspect.Parameter]) -> None:
        self.params = params
        self.p = "_hb_"  # prefix of every generated name, chosen to shadow no parameter
        while any(param.name.startswith(self.p) for param in params):
            self.p = "_" + self.p
        self.namespace: dict[str, Any] = {
            f"{self.p}{b.__name__}": b for b in (type, int, str, len, ValueError, Exception)
        }
        self.lines: list[str] = []
        self._counter = 0

    def bind(self, value: object) -> str:
        """A fresh global name holding ``value``."""
        self._counter += 1
        name = f"{self.p}g{self._counter}"
        self.namespace[name] = value
        return name

    def temp(self) -> str:
        """A fresh local variable name."""
        self._counter += 1
        return f"{self.p}v{self._counter}"

    def literal(self, text: str) -> str:
        """f-string source producing ``text``: inline when harmless, else a bound global."""
        if all(char in _FSTRING_SAFE for char in text):
            return text
        return "{" + self.bind(text) + "}"

    def build(self, func: Callable[..., Any], result: str) -> Callable[..., Any]:
        """exec the function: ``func``'s parameter list, the collected lines, ``result``."""
        parts: list[str] = []
        star = False
        for index, param in enumerate(self.params):
            text = param.name
            if param.kind is _P.KEYWORD_ONLY and not star:
                parts.append("*")
            if param.kind is _P.VAR_POSITIONAL:
                text = "*" + text
            elif param.kind is _P.VAR_KEYWORD:
                text = "**" + text
            star = star or param.kind in (_P.KEYWORD_ONLY, _P.VAR_POSITIONAL)
            if param.default is not _P.empty:
                text += "=" + self.bind(param.default)
            parts.append(text)
            following = self.params[index + 1].kind if index + 1 < len(self.params) else None
            if param.kind is _P.POSITIONAL_ONLY and following is not _P.POSITIONAL_ONLY:
                parts.append("/")
        body = "\n".join(f"    {line}" for line in [*self.lines, f"return {result}"])
        source = f"def {self.p}key({', '.join(parts)}):\n{body}\n"
        exec(compile(source, f"<hitbox key for {_label(func)}>", "exec"), self.namespace)  # noqa: S102
        generated = cast(Callable[..., Any], self.namespace[f"{self.p}key"])
        # Argument errors then read like the decorated function's own ("get_user() missing…").
        generated.__name__ = getattr(func, "__name__", generated.__name__)
        generated.__qualname__ = getattr(func, "__qualname__", generated.__qualname__)
        return generated


def _label(func: Callable[..., Any]) -> str:
    return f"{getattr(func, '__qualname__', None) or repr(func)}()"


def _function_name(func: Callable[..., Any], label: str) -> str:
    qualname = getattr(func, "__qualname__", None)
    if not isinstance(qualname, str):
        raise KeyStrategyError(
            f"cannot compile a default cache key for {func!r}: it has no __qualname__ "
            f"(a functools.partial or a callable object?); pass a key template (key=...)"
        )
    if "<lambda>" in qualname:  # lambdas of one module would share a name: add the line
        qualname += f"@{getattr(getattr(func, '__code__', None), 'co_firstlineno', 0)}"
    return f"{getattr(func, '__module__', None) or '?'}.{qualname}"


def _expected_type(param: inspect.Parameter) -> type | None:
    """``int`` or ``str`` when the annotation (or, unannotated, the default) says so."""
    annotation = param.annotation
    if annotation is _P.empty:
        annotation = type(param.default)
    try:
        return {int: int, "int": int, str: str, "str": str}.get(annotation)
    except TypeError:  # an unhashable annotation
        return None


_SENTINEL: Final = "~"
_NO_DEFAULT: Final = object()
_IMMUTABLE: Final = frozenset(
    {type(None), bool, int, float, str, bytes, decimal.Decimal, uuid.UUID}
    | {dt.datetime, dt.date, dt.time, dt.timedelta}
)


def _is_immutable(value: object) -> bool:
    if type(value) in (tuple, frozenset):
        return all(map(_is_immutable, value))  # type: ignore[call-overload]
    return type(value) in _IMMUTABLE or isinstance(value, (enum.Enum, type))


def _default_encoding(default: object) -> str | None:
    """The encoding of a parameter's default object, when a call may reuse it as is.

    Immutable defaults are encoded once, here. A stateless unencodable default is a
    sentinel (``_MISSING = object()``): it encodes as ``~`` so calls relying on it are
    cached; any other object of its kind is still refused.
    """
    if default is _P.empty:
        return None
    if _is_immutable(default):
        try:
            return _encode(default)
        except Exception:  # refused (or raised) now: refused per call, too
            return None
    state = getattr(default, "__dict__", None)
    if type(default) is object or (state == {} and "__slots__" not in type(default).__dict__):
        return _SENTINEL
    return None


def _default_key_body(src: _Source, key: str, head: str, label: str) -> None:
    """Lines assigning the default key (``head`` + encoded arguments) to local ``key``.

    Parameters annotated ``int``/``str`` are encoded inline in one f-string behind a
    single type guard; the others (and the guard's else branch) dispatch per value.
    """
    encode = src.bind(_encode)
    p, guards, fast, general, dispatched, named = src.p, [], [], [], [], []
    for index, param in enumerate(src.params):
        if (
            index == 0
            and param.name in _SELF_NAMES
            and param.kind in (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD)
        ):
            continue  # methods: the instance (or class) is not part of the key
        arg, var = param.name, src.temp()
        slow = f"{var} = {encode}({arg})"
        dispatched.append("{" + var + "}")
        default = _default_encoding(param.default)
        sentinel = src.bind(param.default if default == _SENTINEL else _NO_DEFAULT)
        named.append(f"({arg!r}, {arg}, {sentinel}), ")
        if param.kind in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD):
            src.lines.append(slow)
            fast.append("{" + var + "}")
            continue
        branches = [
            (f"{p}type({arg}) is {p}int", f"{var} = f'i{{{arg}}}'"),
            (f"{p}type({arg}) is {p}str", f"{var} = f's{{{p}len({arg})}}:{{{arg}}}'"),
        ]
        if default is not None:  # the default object itself: its encoding is known
            branches.insert(0, (f"{arg} is {src.bind(param.default)}", f"{var} = {default!r}"))
        dispatch = [
            "try:",
            *(f"    {'el' * bool(i)}if {test}: {then}" for i, (test, then) in enumerate(branches)),
            f"    else: {slow}",
            f"except {p}ValueError:  # an int too long for str(): the slow path writes hex",
            f"    {slow}",
        ]
        expected = _expected_type(param)
        if expected is None:
            src.lines += dispatch
            fast.append("{" + var + "}")
        else:
            general += dispatch
            guards.append(f"{p}type({arg}) is {p}{expected.__name__}")
            fast.append(f"i{{{arg}}}" if expected is int else f"s{{{p}len({arg})}}:{{{arg}}}")
    slow_key = [*general, f'{key} = f"{head}{",".join(dispatched)}"']
    if not guards:
        src.lines += slow_key
    else:
        src.lines += [
            f"if {' and '.join(guards)}:",
            "    try:",
            f'        {key} = f"{head}{",".join(fast)}"',
            f"    except {p}ValueError:",
            *(f"        {line}" for line in slow_key),
            "else:",
            *(f"    {line}" for line in slow_key),
        ]
    explain = src.bind(_argument_explainer(label))
    src.lines = [
        "try:",
        *(f"    {line}" for line in src.lines),
        f"except {p}Exception as {p}x:",
        f"    raise {explain}({p}x, ({''.join(named)}))",
    ]


def _template_body(src: _Source, template: str, label: str) -> str:
    """Lines rendering ``template``'s placeholders; returns the f-string body."""
    if not isinstance(template, str) or not template:
        raise KeyStrategyError(
            f"key template for {label} must be a non-empty str, got {template!r}"
        )
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise KeyStrategyError(f"invalid key template {template!r} for {label}: {exc}") from None
    names = [param.name for param in src.params]
    render = src.bind(_template_renderer(label))
    p, body = src.p, ""
    for literal_text, field, spec, conversion in parsed:
        body += src.literal(literal_text)
        if field is None:
            continue
        root, *attributes = field.split(".")
        problem = None
        if not root.isidentifier() or not all(a.isidentifier() for a in attributes):
            problem = "placeholders must be a parameter name with optional .attributes"
        elif root not in names:
            problem = f"{root!r} is not a parameter; parameters: {', '.join(names) or '(none)'}"
        elif spec and "{" in spec:
            problem = "nested placeholders in a format spec are not supported"
        if problem is not None:
            raise KeyStrategyError(
                f"key template {template!r} for {label}: placeholder {{{field}}}: {problem}"
            )
        var, conversion = src.temp(), conversion or ""
        src.lines.append(f"{var} = {field}")
        slow = f"{var} = {render}({var}, {conversion!r}, {spec!r}, {field!r})"
        if conversion or spec:
            src.lines.append(slow)
        else:
            src.lines.append(
                f"if {p}type({var}) is not {p}int and {p}type({var}) is not {p}str: {slow}"
            )
        body += "{" + var + "}"
    return body


def _guard_rendering(src: _Source, label: str, what: str) -> None:
    """Wrap the lines so anything a template raises becomes a ``KeyStrategyError``.

    The cache fails open on ``KeyStrategyError`` (the call goes upstream uncached), so a
    missing attribute or a failing ``__format__`` must not escape as itself.
    """

    def failure(exc: Exception) -> KeyStrategyError:
        return KeyStrategyError(
            f"cannot build a cache key for {label} from {what}: {type(exc).__name__}: {exc}"
        )

    p, fail, error = src.p, src.bind(failure), src.bind(KeyStrategyError)
    src.lines = [
        "try:",
        *(f"    {line}" for line in src.lines),
        f"except {error}: raise",
        f"except {p}Exception as {p}x: raise {fail}({p}x) from {p}x",
    ]


# --- the strategy ---------------------------------------------------------------------------

MIN_MAX_LENGTH: Final = 80
"""The smallest ``max_length``: a hashed key keeps ``max_length - 65`` readable characters."""


def _bad_option(option: str, value: object, problem: str) -> ConfigError:
    return ConfigError(
        f"key_strategy.{option}: {problem}, got {value!r}",
        field=f"key_strategy.{option}",
        value=value,
    )


def _is_token(text: str) -> bool:
    return bool(text) and all(char.isprintable() and not char.isspace() for char in text)


@final
class DefaultKeyStrategy:
    """The built-in key strategy (registered as ``"default"``).

    Keys are ``[namespace:][v<version>:]<body>``. Without a template the body is
    ``<module>.<qualname>:<encoded arguments>`` (see the module docstring for the
    encoding); with a template it is the template rendered like the equivalent f-string.
    A key of ``max_length`` characters or more is cut to a readable head plus ``#`` and
    the sha256 of the whole key, exactly ``max_length`` characters long.
    """

    __slots__ = ("_max_length", "_namespace", "_prefix", "_version")

    def __init__(
        self, namespace: str = "", version: str | int | None = None, max_length: int = 200
    ) -> None:
        if not isinstance(namespace, str) or (namespace and not _is_token(namespace)):
            raise _bad_option("namespace", namespace, "must be a str without whitespace")
        if not (
            version is None
            or (isinstance(version, str) and _is_token(version))
            or (type(version) is int and version >= 0)
        ):
            raise _bad_option(
                "version", version, "must be an int >= 0 or a non-empty str without whitespace"
            )
        if type(max_length) is not int or max_length < MIN_MAX_LENGTH:
            raise _bad_option("max_length", max_length, f"must be an int >= {MIN_MAX_LENGTH}")
        self._namespace = namespace
        self._version = version
        self._max_length = max_length
        self._prefix = (f"{namespace}:" if namespace else "") + (
            f"v{version}:" if version is not None else ""
        )

    @property
    def namespace(self) -> str:
        """The namespace prefix ("" for none)."""
        return self._namespace

    @property
    def version(self) -> str | int | None:
        """The version, rendered as ``v<version>:`` after the namespace."""
        return self._version

    @property
    def max_length(self) -> int:
        """Keys this long or longer are hashed down to exactly this many characters."""
        return self._max_length

    @property
    def prefix(self) -> str:
        """What every key starts with, e.g. ``"shop:v3:"``."""
        return self._prefix

    def __repr__(self) -> str:
        return (
            f"DefaultKeyStrategy(namespace={self._namespace!r}, version={self._version!r}, "
            f"max_length={self._max_length!r})"
        )

    def compile(self, func: Callable[..., Any], template: str | None = None) -> KeyFunction:
        """A key function taking ``func``'s own arguments; see the class docstring.

        Raises :class:`hitbox.KeyStrategyError` now for a bad template, and at call time
        for an argument the default encoding refuses.
        """
        target = _unwrap(func)
        label = _label(target)
        src = _Source(_parameters(target, label))
        key, p = src.temp(), src.p
        if template is None:
            head = src.literal(f"{self._prefix}{_function_name(target, label)}:")
            _default_key_body(src, key, head, label)
        else:
            body = src.literal(self._prefix) + _template_body(src, template, label)
            src.lines.append(f'{key} = f"{body}"')
            _guard_rendering(src, label, f"template {template!r}")
        src.lines.append(f"if {p}len({key}) < {self._max_length}: return {key}")
        return cast(
            KeyFunction, src.build(target, f"{src.bind(_shorten)}({key}, {self._max_length})")
        )

    def compile_tags(
        self, func: Callable[..., Any], templates: tuple[str, ...]
    ) -> Callable[..., tuple[str, ...]]:
        """A function returning ``templates`` rendered for a call of ``func``.

        Tags are names in the caller's domain, compared with what is passed to
        ``invalidate_tags``: they get no namespace prefix and no hashing.
        """
        target = _unwrap(func)
        label = _label(target)
        src = _Source(_parameters(target, label))
        bodies = [_template_body(src, template, label) for template in templates]
        tags = src.temp()
        src.lines.append(f"{tags} = (" + "".join(f'f"{body}", ' for body in bodies) + ")")
        _guard_rendering(src, label, f"tag templates {tuple(templates)!r}")
        return cast(Callable[..., tuple[str, ...]], src.build(target, tags))

    def make_key(self, raw_key: str) -> str:
        """``raw_key`` with this strategy's prefix, hashed if too long."""
        if type(raw_key) is not str or not raw_key:
            raise KeyStrategyError(f"a cache key must be a non-empty str, got {raw_key!r}")
        key = self._prefix + raw_key
        return key if len(key) < self._max_length else _shorten(key, self._max_length)


def _unwrap(func: Any) -> Callable[..., Any]:
    if isinstance(func, (classmethod, staticmethod)):
        return cast(Callable[..., Any], func.__func__)
    if not callable(func):
        raise KeyStrategyError(f"cannot compile a cache key for {func!r}: it is not callable")
    return cast(Callable[..., Any], func)


_OPTIONS: Final = ("max_length", "namespace", "version")


def _default_strategy(**options: Any) -> DefaultKeyStrategy:
    for option, value in options.items():
        if option not in _OPTIONS:
            raise _bad_option(
                option, value, f"unknown option of key strategy 'default' ({', '.join(_OPTIONS)})"
            )
    return DefaultKeyStrategy(**options)


def register_builtin_key_strategies(registry: KeyStrategyRegistry) -> None:
    """Register :class:`DefaultKeyStrategy` as ``"default"`` (options as keyword arguments)."""
    registry.add(
        "default",
        _default_strategy,
        description="qualified name + unambiguous arguments or a template; prefixes; hashing",
    )
