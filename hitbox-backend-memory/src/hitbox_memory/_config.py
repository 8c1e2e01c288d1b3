"""Configuration model of the memory backend (``memory://?max_entries=...``)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from hitbox import BackendConfig, ConfigError
from pydantic import Field, ValidationError, model_validator

__all__ = ["MemoryConfig", "Mode", "PolicyName"]

PolicyName = Literal["tinylfu", "lru"]
"""Eviction policies: ``tinylfu`` (W-TinyLFU, the default) or plain ``lru``."""

Mode = Literal["object", "bytes"]
"""Storage modes: ``object`` keeps :class:`hitbox.CachedValue` as is; ``bytes`` encodes it."""


class MemoryConfig(BackendConfig):
    """Settings of :class:`hitbox_memory.MemoryBackend`.

    At least one bound is required: ``max_entries`` (entry count) and/or ``max_bytes``
    (sum of entry weights; by default an entry weighs its payload size in bytes).
    """

    schemes: ClassVar[tuple[str, ...]] = ("memory",)

    max_entries: int | None = Field(default=10_000, ge=1)
    """Most entries held at once; ``None`` bounds by ``max_bytes`` only."""
    max_bytes: int | None = Field(default=None, ge=1)
    """Most bytes (sum of weights) held at once; ``None`` bounds by ``max_entries`` only."""
    policy: PolicyName = "tinylfu"
    """Eviction policy."""
    mode: Mode = "object"
    """Storage mode."""

    @model_validator(mode="after")
    def _require_a_bound(self) -> Self:
        if self.max_entries is None and self.max_bytes is None:
            raise ValueError("set max_entries and/or max_bytes: a memory cache must be bounded")
        return self

    @classmethod
    def model_validate_config(cls, data: dict[str, Any]) -> Self:
        """Validate ``data``, raising :class:`hitbox.ConfigError` naming the bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise config_error(exc, data) from None

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> Self:
        """Build the config from a ``memory://?max_entries=...`` URL (``overrides`` win)."""
        return cls.model_validate_config({**cls.url_fields(url), **overrides})


def config_error(exc: ValidationError, data: dict[str, Any]) -> ConfigError:
    """Turn pydantic's error into a one-line :class:`ConfigError` naming field and value."""
    first = exc.errors()[0]
    loc = [str(part) for part in first.get("loc", ())]
    field = ".".join(loc) if loc else "max_entries"
    value = first.get("input") if loc else data.get("max_entries")
    return ConfigError(
        f"invalid memory backend setting {field}={value!r}: {first.get('msg', exc)}",
        field=field,
        value=value,
    )
