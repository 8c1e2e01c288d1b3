"""Configuration model of the memory backend (``memory://?max_entries=...``)."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Final, Literal, Self

from hitbox import BackendConfig
from pydantic import Field, field_validator, model_validator

__all__ = ["MemoryConfig", "Mode", "PolicyName", "parse_size"]

PolicyName = Literal["tinylfu", "lru"]
"""Eviction policies: ``tinylfu`` (W-TinyLFU, the default) or plain ``lru``."""

Mode = Literal["object", "bytes"]
"""Storage modes: ``object`` keeps :class:`hitbox.CachedValue` as is; ``bytes`` encodes it."""

_UNITS: Final = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
}
_SIZE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
_UNBOUNDED: Final = frozenset({"", "none", "null"})


def parse_size(text: str) -> int:
    """``"64MiB"`` -> 67108864; plain digits are bytes. Raises ValueError on anything else."""
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise ValueError(f"expected a byte size like 1048576, 512KiB, 64MB or 1GiB, got {text!r}")
    return int(float(match.group(1)) * _UNITS[unit])


class MemoryConfig(BackendConfig):
    """Settings of :class:`hitbox_memory.MemoryBackend`.

    At least one bound is required: ``max_entries`` (entry count) and/or ``max_bytes``
    (sum of entry weights; by default an entry weighs its payload size in bytes). In a URL,
    ``max_bytes`` takes units (``64MiB``) and ``none`` lifts a bound
    (``memory://?max_entries=none&max_bytes=1GiB``).
    """

    schemes: ClassVar[tuple[str, ...]] = ("memory",)
    backend_name: ClassVar[str] = "memory"
    blamed_field: ClassVar[str] = "max_entries"

    max_entries: int | None = Field(default=10_000, ge=1)
    """Most entries held at once; ``None`` bounds by ``max_bytes`` only."""
    max_bytes: int | None = Field(default=None, ge=1)
    """Most bytes (sum of weights) held at once; ``None`` bounds by ``max_entries`` only."""
    policy: PolicyName = "tinylfu"
    """Eviction policy."""
    mode: Mode = "object"
    """Storage mode."""

    @field_validator("max_entries", "max_bytes", mode="before")
    @classmethod
    def _parse_bound(cls, value: Any, info: Any) -> Any:
        if isinstance(value, str):
            if value.strip().lower() in _UNBOUNDED:
                return None
            if info.field_name == "max_bytes":
                return parse_size(value)
        return value

    @model_validator(mode="after")
    def _require_a_bound(self) -> Self:
        if self.max_entries is None and self.max_bytes is None:
            raise ValueError("set max_entries and/or max_bytes: a memory cache must be bounded")
        return self
