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

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Protocol, cast, final, runtime_checkable

from hitbox._errors import ConfigError, KeyStrategyError, suggestion
from hitbox._key_codegen import (
    KeyMemo,
    Source,
    default_key_body,
    function_name,
    guard_rendering,
    label_of,
    memo_parameter,
    parameters,
    skipped_self,
    template_body,
    template_roots,
    unwrap,
)
from hitbox._key_encoding import shorten

if TYPE_CHECKING:
    from hitbox.plugins import KeyStrategyRegistry

__all__ = [
    "MIN_MAX_LENGTH",
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


MIN_MAX_LENGTH: Final = 80
"""The smallest ``max_length``: a hashed key keeps ``max_length - 65`` readable characters."""


def _bad_option(option: str, value: object, problem: str, hint: str = "") -> ConfigError:
    return ConfigError(
        f"key_strategy.{option}: {problem}, got {value!r}{hint}",
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
        target = unwrap(func)
        label = label_of(target)
        src = Source(parameters(target, label))
        key, p = src.temp(), src.p
        if template is None:
            head = src.literal(f"{self._prefix}{function_name(target, label)}:")
            default_key_body(src, key, head, label)
            keyed = {param.name for param in src.params[skipped_self(src.params) :]}
        else:
            body = src.literal(self._prefix) + template_body(src, template, label)
            src.lines.append(f'{key} = f"{body}"')
            guard_rendering(src, label, f"template {template!r}")
            keyed = template_roots(template)
        src.lines.append(
            f"if {p}len({key}) >= {self._max_length}: "
            f"{key} = {src.bind(shorten)}({key}, {self._max_length})"
        )
        parameter = memo_parameter(src.params, keyed)
        generated = src.build(target, key)
        generated.key_memo = None if parameter is None else KeyMemo(parameter)  # type: ignore[attr-defined]
        return cast(KeyFunction, generated)

    def compile_tags(
        self, func: Callable[..., Any], templates: tuple[str, ...]
    ) -> Callable[..., tuple[str, ...]]:
        """A function returning ``templates`` rendered for a call of ``func``.

        Tags are names in the caller's domain, compared with what is passed to
        ``invalidate_tags``: they get no namespace prefix and no hashing.
        """
        target = unwrap(func)
        label = label_of(target)
        src = Source(parameters(target, label))
        bodies = [template_body(src, template, label) for template in templates]
        tags = src.temp()
        src.lines.append(f"{tags} = (" + "".join(f'f"{body}", ' for body in bodies) + ")")
        guard_rendering(src, label, f"tag templates {tuple(templates)!r}")
        return cast(Callable[..., tuple[str, ...]], src.build(target, tags))

    def make_key(self, raw_key: str) -> str:
        """``raw_key`` with this strategy's prefix, hashed if too long."""
        if type(raw_key) is not str or not raw_key:
            raise KeyStrategyError(f"a cache key must be a non-empty str, got {raw_key!r}")
        key = self._prefix + raw_key
        return key if len(key) < self._max_length else shorten(key, self._max_length)


_OPTIONS: Final = ("max_length", "namespace", "version")


def _default_strategy(**options: Any) -> DefaultKeyStrategy:
    for option, value in options.items():
        if option not in _OPTIONS:
            raise _bad_option(
                option,
                value,
                "unknown option of key strategy 'default'",
                suggestion(option, _OPTIONS),
            )
    return DefaultKeyStrategy(**options)


def register_builtin_key_strategies(registry: KeyStrategyRegistry) -> None:
    """Register :class:`DefaultKeyStrategy` as ``"default"`` (options as keyword arguments)."""
    registry.add(
        "default",
        _default_strategy,
        description="qualified name + unambiguous arguments or a template; prefixes; hashing",
    )
