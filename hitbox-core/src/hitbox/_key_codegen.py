"""Code generation for compiled key functions.

A key function is generated with ``exec`` (as :mod:`dataclasses` does) with the
decorated function's own parameter list, so the interpreter binds arguments and applies
defaults; its body only builds one string. Every generated name starts with a prefix no
parameter starts with, and builtins are bound under that prefix too, so parameters
called ``type`` or ``len`` cannot break it.
"""

from __future__ import annotations

import inspect
import string
from collections.abc import Callable
from typing import Any, Final, cast, final

from hitbox._errors import KeyStrategyError
from hitbox._key_encoding import (
    NO_DEFAULT,
    SENTINEL,
    argument_explainer,
    default_encoding,
    encode,
    template_renderer,
)

__all__ = [
    "KEY_MEMO_SIZE",
    "KeyMemo",
    "Source",
    "default_key_body",
    "function_name",
    "guard_rendering",
    "label_of",
    "memo_parameter",
    "parameters",
    "skipped_self",
    "template_body",
    "template_roots",
    "unwrap",
]

_SELF_NAMES: Final = frozenset({"self", "cls"})
_FSTRING_SAFE: Final = frozenset(
    string.ascii_letters + string.digits + " !#$%&'()*+,-./:;<=>?@[]^_`|~"
)
_P = inspect.Parameter
KEY_MEMO_SIZE: Final = 1024
"""Keys a key function remembers per argument value (cleared when full)."""


@final
class KeyMemo:
    """Room for the keys a generated key function builds for ``int``/``str`` values of
    its one key parameter, attached to the function as ``key_memo``. The decorator's
    wrapper looks a call's key up in it and calls the function (and remembers its
    answer) only when it is not there: for a hot argument, a dict lookup instead of
    formatting (and hashing) the key string again. The key function itself stays pure.

    Only exact ``int`` and ``str`` arguments may be remembered (``True == 1`` and
    ``1.0 == 1`` would otherwise share an entry); a memo exists only when the key depends
    on that one parameter and the strategy's fixed settings, so it cannot go stale.
    """

    __slots__ = ("keys", "parameter")

    def __init__(self, parameter: str) -> None:
        self.parameter = parameter
        """The name of the parameter whose value the keys are remembered by."""
        self.keys: dict[int | str, str] = {}
        """Argument value -> key."""


def memo_parameter(params: list[inspect.Parameter], keyed: set[str]) -> str | None:
    """The one parameter a key depends on, if exactly one (of those named in ``keyed``)
    does and it takes a single value (not ``*args``/``**kwargs``)."""
    candidates = [param for param in params if param.name in keyed]
    if len(candidates) != 1 or candidates[0].kind in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD):
        return None
    return candidates[0].name


def parameters(func: Callable[..., Any], label: str) -> list[inspect.Parameter]:
    """``func``'s parameters (following ``__wrapped__``), or a ``KeyStrategyError``."""
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
class Source:
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
        exec(compile(source, f"<hitbox key for {label_of(func)}>", "exec"), self.namespace)  # noqa: S102
        generated = cast(Callable[..., Any], self.namespace[f"{self.p}key"])
        # Argument errors then read like the decorated function's own ("get_user() missing…").
        generated.__name__ = getattr(func, "__name__", generated.__name__)
        generated.__qualname__ = getattr(func, "__qualname__", generated.__qualname__)
        return generated


def label_of(func: Callable[..., Any]) -> str:
    """How error messages name ``func``: ``get_user()``."""
    return f"{getattr(func, '__qualname__', None) or repr(func)}()"


def function_name(func: Callable[..., Any], label: str) -> str:
    """``module.qualname`` naming ``func``'s default keys (lambdas get their line)."""
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


def skipped_self(params: list[inspect.Parameter]) -> int:
    """1 if the first parameter is a method's ``self``/``cls`` (never part of a default
    key), else 0."""
    first = params[0] if params else None
    return int(
        first is not None
        and first.name in _SELF_NAMES
        and first.kind in (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD)
    )


def template_roots(template: str) -> set[str]:
    """The parameter names a (valid) key template's placeholders start with."""
    return {
        field.split(".")[0]
        for _, field, _, _ in string.Formatter().parse(template)
        if field is not None
    }


def default_key_body(src: Source, key: str, head: str, label: str) -> None:
    """Lines assigning the default key (``head`` + encoded arguments) to local ``key``.

    Parameters annotated ``int``/``str`` are encoded inline in one f-string behind a
    single type guard; the others (and the guard's else branch) dispatch per value.
    """
    encoder = src.bind(encode)
    p, guards, fast, general, dispatched, named = src.p, [], [], [], [], []
    first_keyed = skipped_self(src.params)  # methods: the instance (or class) is not keyed
    for index, param in enumerate(src.params):
        if index < first_keyed:
            continue
        arg, var = param.name, src.temp()
        slow = f"{var} = {encoder}({arg})"
        dispatched.append("{" + var + "}")
        default = default_encoding(param.default)
        sentinel = src.bind(param.default if default == SENTINEL else NO_DEFAULT)
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
    explain = src.bind(argument_explainer(label))
    src.lines = [
        "try:",
        *(f"    {line}" for line in src.lines),
        f"except {p}Exception as {p}x:",
        f"    raise {explain}({p}x, ({''.join(named)}))",
    ]


def template_body(src: Source, template: str, label: str) -> str:
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
    render = src.bind(template_renderer(label))
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


def guard_rendering(src: Source, label: str, what: str) -> None:
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


def unwrap(func: Any) -> Callable[..., Any]:
    """The plain function inside a ``classmethod``/``staticmethod``; refuses non-callables."""
    if isinstance(func, (classmethod, staticmethod)):
        return cast(Callable[..., Any], func.__func__)
    if not callable(func):
        raise KeyStrategyError(f"cannot compile a cache key for {func!r}: it is not callable")
    return cast(Callable[..., Any], func)
