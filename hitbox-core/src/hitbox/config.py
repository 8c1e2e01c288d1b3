"""Configuration: select every piece by name, validate with pydantic, fail with one line.

A configuration is a mapping (from code, a TOML file or ``HITBOX_*`` environment
variables) with these top-level fields::

    backend = "memory"                     # a name, a URL, or a table with "name"/"url"
    serializer = "cbor"                    # a registered serializer name
    key_strategy = "default"               # a name, or a table {name = ..., options...}
    namespace = "shop"                     # key prefix (passed to the key strategy)
    version = 3                            # key version prefix
    signing_key = "..."                    # HMAC-SHA256 key for stored envelopes
    [policy]                               # hitbox.Policy fields
    ttl = 60

Each backend validates its own section with its own :class:`hitbox.BackendConfig` model.
Every error is a :class:`hitbox.ConfigError` whose message names the field and the value.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, final
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from hitbox._errors import ConfigError, PluginError, field_path, suggestion
from hitbox.backend._config import check_signing_key, shown
from hitbox.backend._contract import Backend
from hitbox.keys import KeyStrategy
from hitbox.plugins import PluginManager, get_plugin_manager
from hitbox.policy import Policy
from hitbox.serializers import Serializer

__all__ = [
    "DEFAULT_BACKEND",
    "DEFAULT_SERIALIZER",
    "CacheConfig",
    "cache_kwargs",
    "config_from_url",
    "env_overrides",
    "environment_source",
    "load_file",
    "naming_environment",
    "resolve_backend",
    "resolve_key_strategy",
    "resolve_serializer",
    "validation_error",
]

DEFAULT_BACKEND = "memory"
"""The embedded default backend (``hitbox-backend-memory``)."""

DEFAULT_SERIALIZER = "cbor"
"""The default serializer: compact binary, no pickle."""

ENV_PREFIX = "HITBOX_"


@final
class CacheConfig(BaseModel):
    """The top level of a Hitbox configuration. Sections are validated by their owners."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str | dict[str, Any] = DEFAULT_BACKEND
    """A backend name (``"memory"``), a URL (``"redis://localhost/0"``) or a table with
    ``name`` and/or ``url`` plus the backend's own fields."""

    serializer: str = DEFAULT_SERIALIZER
    """A registered serializer name: ``cbor``, ``json``, ``msgpack``, ``raw``, ``pickle``..."""

    key_strategy: str | dict[str, Any] = "default"
    """A registered key strategy name, or a table with ``name`` and its options."""

    namespace: str = ""
    """Prefix of every key, so several applications can share one backend."""

    version: str | int | None = None
    """Key version prefix: bump it to orphan every entry written by older code."""

    signing_key: SecretStr | None = None
    """HMAC-SHA256 key for stored envelopes (bytes-storing backends), at least 16 bytes.
    Left out (``None``), entries are unsigned; an empty or blank key is an error."""

    policy: dict[str, Any] = Field(default_factory=dict)
    """Fields of :class:`hitbox.Policy`."""

    @field_validator("signing_key", mode="after")
    @classmethod
    def _signing_key_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        return check_signing_key(value)

    @field_validator("backend")
    @classmethod
    def _backend_not_empty(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must name a backend or give a URL")
        return value


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "bytes", "none"})


def validation_error(
    exc: ValidationError, prefix: str = "", known: Mapping[str, Any] | None = None
) -> ConfigError:
    """Turn a pydantic error into a one-line :class:`ConfigError` naming field and value.

    ``known`` (a model's fields; the top level's by default) is where an unknown name's
    did-you-mean comes from.
    """
    parts = []
    seen: set[str] = set()
    first_field: str | None = None
    first_value: object = None
    for error in exc.errors():
        # Union members add their type ("str", "dict[str,any]") to the location: drop them.
        raw = [p for p in error["loc"] if str(p) not in _TYPE_TAGS and "[" not in str(p)]
        loc = field_path(raw)
        field = f"{prefix}.{loc}" if prefix and loc else (prefix or loc)
        if field in seen:
            continue
        seen.add(field)
        value = shown(field, error.get("input"))  # never echo a credential
        if first_field is None:
            first_field, first_value = field, value
        if error["type"] == "extra_forbidden":
            names = CacheConfig.model_fields if known is None else known
            hint = suggestion(str(raw[-1]), names) if len(raw) == 1 else ""
            parts.append(f"{field}: unknown setting{hint}")
        elif error["type"] == "missing":
            parts.append(f"{field}: required setting is missing")
        else:
            message = error["msg"].removeprefix("Value error, ")
            parts.append(f"{field}: {message} (got {value!r})")
    return ConfigError(
        "invalid configuration: " + "; ".join(parts), field=first_field, value=first_value
    )


def _parse(data: Mapping[str, Any] | CacheConfig) -> CacheConfig:
    if isinstance(data, CacheConfig):
        return data
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"invalid configuration: expected a mapping, got {type(data).__name__}",
            field="",
            value=data,
        )
    try:
        return CacheConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise validation_error(exc) from None


def resolve_backend(
    spec: Backend | str | Mapping[str, Any],
    plugins: PluginManager | None = None,
    *,
    signing_key: str | None = None,
) -> Backend:
    """Build a backend from an instance, a registered name, a URL, or a section mapping."""
    if isinstance(spec, Backend):
        return spec
    plugins = plugins or get_plugin_manager()
    section: dict[str, Any]
    if isinstance(spec, str):
        section = {"url": spec} if "://" in spec else {"name": spec}
    elif isinstance(spec, Mapping):
        section = dict(spec)
    else:
        raise ConfigError(
            f"backend: expected a name, URL, mapping or Backend, got {type(spec).__name__}",
            field="backend",
            value=spec,
        )
    name = section.pop("name", None)
    url = section.pop("url", None)
    if url is not None and not isinstance(url, str):
        raise ConfigError(
            f"backend.url: expected a string (got {url!r})", field="backend.url", value=url
        )
    if name is None and url is None:
        raise ConfigError("backend: give a 'name' or a 'url'", field="backend", value=spec)
    if url is not None:
        try:
            scheme = urlsplit(url).scheme
        except ValueError as exc:  # e.g. "Invalid IPv6 URL" for an unbalanced "["
            raise ConfigError(
                f"backend.url: {exc} (got {url!r})", field="backend.url", value=url
            ) from None
        if not scheme:
            raise ConfigError(
                f"backend.url: {url!r} has no scheme (expected e.g. memory://, redis://)",
                field="backend.url",
                value=url,
            )
        by_scheme = plugins.backends.for_scheme(scheme)
        if name is not None and name != by_scheme.name:
            raise ConfigError(
                f"backend: name {name!r} does not match URL scheme {scheme!r} "
                f"(registered to {by_scheme.name!r})",
                field="backend.name",
                value=name,
            )
        backend_spec = by_scheme
    else:
        if not isinstance(name, str):
            raise ConfigError(
                f"backend.name: expected a string (got {name!r})", field="backend.name", value=name
            )
        backend_spec = plugins.backends.get(name)
    config_model = backend_spec.config
    if signing_key is not None and "signing_key" in config_model.model_fields:
        section.setdefault("signing_key", signing_key)
    try:
        if url is not None:
            config = config_model.from_url(url, **section)
        else:
            config = config_model.model_validate(section)
    except ConfigError as exc:
        # Anchor the backend model's field in the configuration: backend.max_entries.
        if exc.field and not exc.field.startswith("backend"):
            exc.field = f"backend.{exc.field}"
        raise
    except ValidationError as exc:  # a section: name its fields by their full path
        raise validation_error(exc, prefix="backend", known=config_model.model_fields) from None
    except ValueError as exc:
        raise ConfigError(
            f"backend.url: {exc} (got {url!r})", field="backend.url", value=url
        ) from None
    try:
        backend = backend_spec.factory(config)
    except ConfigError:
        raise
    except Exception as exc:  # the plugin's failure, not the user's: say whose
        raise PluginError(
            f"backend {backend_spec.name!r} (plugin {backend_spec.origin.plugin!r}"
            f"{_from(backend_spec.origin.distribution)}) failed to start: {exc!r}"
        ) from exc
    if not backend.label:
        backend.label = backend_spec.name
    return backend


def _from(distribution: str | None) -> str:
    return f" from {distribution}" if distribution else ""


def resolve_serializer(spec: Serializer | str, plugins: PluginManager | None = None) -> Serializer:
    """A serializer instance from an instance or a registered name."""
    if not isinstance(spec, str):
        if not isinstance(spec, Serializer):
            raise ConfigError(
                f"serializer: {type(spec).__name__} does not implement dumps/loads",
                field="serializer",
                value=spec,
            )
        return spec
    registry = (plugins or get_plugin_manager()).serializers
    return registry.get(spec).factory()


def resolve_key_strategy(
    spec: KeyStrategy | str | Mapping[str, Any] | None,
    plugins: PluginManager | None = None,
    **defaults: Any,
) -> KeyStrategy:
    """A key strategy from an instance, a name, or ``{"name": ..., **options}``.

    ``defaults`` (namespace, version) fill options the section leaves unset.
    """
    if spec is not None and not isinstance(spec, (str, Mapping)):
        return spec
    options: dict[str, Any] = {}
    name = "default"
    if isinstance(spec, str):
        name = spec
    elif isinstance(spec, Mapping):
        options = dict(spec)
        name = options.pop("name", "default")
    for option, value in defaults.items():
        if value is not None and value != "":
            options.setdefault(option, value)
    registry = (plugins or get_plugin_manager()).key_strategies
    factory = registry.get(name).factory
    try:
        return factory(**options)
    except TypeError as exc:
        raise ConfigError(f"key_strategy: {exc}", field="key_strategy", value=options) from None


def cache_kwargs(
    config: Mapping[str, Any] | CacheConfig, plugins: PluginManager | None = None
) -> dict[str, Any]:
    """Keyword arguments for :class:`hitbox.Cache` built from a configuration mapping."""
    parsed = _parse(config)
    plugins = plugins or get_plugin_manager()
    key = parsed.signing_key
    signing_key = key.get_secret_value() if key is not None else None
    return {
        "backend": resolve_backend(parsed.backend, plugins, signing_key=signing_key),
        "serializer": resolve_serializer(parsed.serializer, plugins),
        "key_strategy": resolve_key_strategy(
            parsed.key_strategy, plugins, namespace=parsed.namespace, version=parsed.version
        ),
        "policy": Policy.validated(parsed.policy),
        "plugins": plugins,
    }


def config_from_url(url: str, **fields: Any) -> dict[str, Any]:
    """A configuration mapping whose backend is ``url``; ``fields`` add top-level settings."""
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(
            f"url: expected a backend URL such as memory:// or redis://host:6379/0 (got {url!r})",
            field="url",
            value=url,
        )
    return {**fields, "backend": url}


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Settings from ``HITBOX_*`` variables; ``__`` separates nested fields.

    ``HITBOX_BACKEND=redis://...``, ``HITBOX_POLICY__TTL=30``,
    ``HITBOX_BACKEND__MAX_ENTRIES=1000``. ``HITBOX_DISABLE_PLUGINS``, ``HITBOX_DISABLE``
    (the testing switch), ``HITBOX_ADMIN_TOKEN`` and ``HITBOX_REQUIRE_SERVICES`` are not
    settings and are skipped. Values are strings; the models convert them.
    """
    environ = os.environ if environ is None else environ
    result: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in _NOT_SETTINGS:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        if not all(path):
            raise ConfigError(f"{name}: malformed variable name", field=name, value=value)
        target = result
        for part in path[:-1]:
            existing = target.get(part)
            if not isinstance(existing, dict):
                existing = {}
                target[part] = existing
            target = existing
        target[path[-1]] = value
    return result


def environment_source(error: ConfigError, environ: Mapping[str, str] | None = None) -> str | None:
    """The ``HITBOX_*`` variable that set the field ``error`` names, if one is set.

    ``policy.ttl`` comes from ``HITBOX_POLICY__TTL``; an error about a field a variable
    set should name the variable, which is where the user has to look."""
    if not error.field or error.field.startswith(ENV_PREFIX):
        return None
    environ = os.environ if environ is None else environ
    parts = error.field.split(".")
    # The variable setting the field itself, else the nearest enclosing one
    # (HITBOX_BACKEND=... for an error about backend.max_entries of its URL).
    for end in range(len(parts), 0, -1):
        name = ENV_PREFIX + "__".join(part.upper() for part in parts[:end])
        if name in environ and name not in _NOT_SETTINGS:
            return name
    return None


def naming_environment(error: ConfigError, environ: Mapping[str, str] | None = None) -> ConfigError:
    """``error``, or the same error with `` (from HITBOX_...)`` after its field when an
    environment variable set that field."""
    name = environment_source(error, environ)
    if name is None:
        return error
    message = str(error)
    field = error.field or ""
    if message.startswith(field + ":"):
        message = f"{field} (from {name}){message[len(field) :]}"
    else:
        message = f"{message} (from {name})"
    return ConfigError(message, field=error.field, value=error.value)


_NOT_SETTINGS = frozenset(
    {
        "HITBOX_DISABLE_PLUGINS",
        "HITBOX_REQUIRE_SERVICES",
        "HITBOX_CONFIG",
        "HITBOX_DISABLE",
        "HITBOX_ADMIN_TOKEN",
    }
)


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for name, value in overrides.items():
        current = merged.get(name)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[name] = _merge(dict(current), value)
        elif isinstance(value, Mapping) and isinstance(current, str) and name == "backend":
            # A backend given as a name or URL in the file, refined field by field in env.
            key = "url" if "://" in current else "name"
            merged[name] = _merge({key: current}, value)
        else:
            merged[name] = value
    return merged


def load_file(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Read a TOML configuration (the whole file, or its ``[hitbox]`` table) plus env overrides."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"config file {str(file)!r}: {exc.strerror}", field="path", value=str(file)
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"config file {str(file)!r}: invalid TOML: {exc}", field="path", value=str(file)
        ) from None
    if isinstance(data.get("hitbox"), dict):
        data = data["hitbox"]
    return _merge(data, env_overrides(environ))
