"""Base model every backend's configuration section derives from."""

from __future__ import annotations

from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr

__all__ = ["BackendConfig"]


class BackendConfig(BaseModel):
    """A backend's configuration section, validated by the backend's own model.

    Subclasses declare fields with pydantic; unknown fields are rejected so typos surface.
    :meth:`from_url` maps a URL onto the model: by default the query string's parameters
    become fields (``memory://?max_entries=100``); backends with hosts or paths override
    :meth:`url_fields` to add them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    signing_key: SecretStr | None = None
    """HMAC-SHA256 key for stored envelopes; filled from the top-level ``signing_key``.

    Only backends that store bytes use it (pass it to :class:`hitbox.codec.EnvelopeCodec`).
    """

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
        return cls.model_validate({**cls.url_fields(url), **overrides})
