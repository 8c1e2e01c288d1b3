"""Base model every backend's configuration section derives from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator

from hitbox._errors import ConfigError, field_path, suggestion

__all__ = ["BackendConfig", "check_signing_key", "is_secret", "shown"]

_SECRET_WORDS = ("password", "secret", "token", "signing_key", "credential")


def is_secret(field: str) -> bool:
    """Whether a setting holds a credential, whose value no message may show."""
    return any(word in field for word in _SECRET_WORDS)


def shown(field: str, value: object) -> object:
    """``value`` as an error message may show it: ``"***"`` for a credential, unless it is
    blank (then the message shows that it is)."""
    if not is_secret(field):
        return value
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    return text if isinstance(text, str) and not text.strip() else "***"


def check_signing_key(value: SecretStr | None) -> SecretStr | None:
    """Refuse an empty or blank signing key: only its absence (``None``) means unsigned.

    An empty ``HITBOX_SIGNING_KEY=`` or ``signing_key = ""`` is a mistake (a secret that
    did not arrive), never a quiet way to turn signing off.
    """
    if value is not None and not value.get_secret_value().strip():
        raise ValueError(
            "must not be empty or blank; leave signing_key out (or None) to store entries "
            "unsigned, or give a key of at least 16 bytes"
        )
    return value


class BackendConfig(BaseModel):
    """A backend's configuration section, validated by the backend's own model.

    Subclasses declare fields with pydantic; unknown fields are rejected so typos surface.
    :meth:`from_url` maps a URL onto the model: by default the query string's parameters
    become fields (``memory://?max_entries=100``); backends with hosts or paths override
    :meth:`url_fields` to add them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    backend_name: ClassVar[str] = ""
    """How error messages name the backend (``"invalid sqlite backend setting path: ..."``).

    Left empty, it comes from the class name (``RedisConfig`` -> ``redis``)."""

    blamed_field: ClassVar[str] = ""
    """The field an error of the whole model (a cross-field rule) is reported against."""

    signing_key: SecretStr | None = None
    """HMAC-SHA256 key for stored envelopes; filled from the top-level ``signing_key``.

    Only backends that store bytes use it (pass it to :class:`hitbox.codec.EnvelopeCodec`).
    """

    @field_validator("signing_key", mode="after")
    @classmethod
    def _signing_key_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        return check_signing_key(value)

    def signing_key_bytes(self) -> bytes | None:
        """The signing key as bytes (UTF-8), or ``None`` when signing is off."""
        if self.signing_key is None:
            return None
        return self.signing_key.get_secret_value().encode()

    @classmethod
    def url_fields(cls, url: str) -> dict[str, Any]:
        """Fields taken from ``url`` (query parameters by default; override to add more)."""
        return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> Self:
        """Build the config from ``url``; ``overrides`` win over URL fields."""
        return cls.validated({**cls.url_fields(url), **overrides})

    @classmethod
    def validated(cls, data: Mapping[str, Any]) -> Self:
        """Validate ``data``; a mistake is a one-line :class:`hitbox.ConfigError`.

        The message and the error's ``field``/``value`` name the first offending setting
        and what the user gave for it (before any conversion).
        """
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise cls._config_error(exc, data) from None

    @classmethod
    def _config_error(cls, exc: ValidationError, data: Mapping[str, Any]) -> ConfigError:
        first = exc.errors()[0]
        field = field_path(first.get("loc", ())) or cls.blamed_field
        value = data.get(field, first.get("input")) if field else None
        value = shown(field, value)  # never echo a credential into logs or terminals
        message = str(first.get("msg", exc)).removeprefix("Value error, ")
        name = cls.backend_name or cls.__name__.strip("_").removesuffix("Config").lower()
        hint = ""
        if first.get("type") == "extra_forbidden":
            message = f"unknown setting for the {name} backend"
            loc = first.get("loc", ())
            hint = suggestion(str(loc[-1]), cls.model_fields) if len(loc) == 1 else ""
        name = name or "unnamed"
        return ConfigError(
            f"invalid {name} backend setting {field or '(settings)'}: {message} "
            f"(got {value!r}){hint}",
            field=field or None,
            value=value,
        )
