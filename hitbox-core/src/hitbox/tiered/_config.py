"""Configuration of the ``tiered`` backend and the factory the built-in plugin registers.

::

    [backend]
    name = "tiered"
    write_policy = "sequential"        # or "concurrent"

    [[backend.tiers]]                  # L1
    name = "memory"
    max_entries = 10000

    [[backend.tiers]]                  # L2 (its pub/sub is the invalidation bus)
    url = "redis://localhost:6379/0"

Each tier is an ordinary backend section (a name, a URL, or a table), resolved through
the plugin registry like the top-level ``backend``; the core imports no backend.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import Field

from hitbox._defaults import (
    DEFAULT_BACKEND_TIMEOUT,
    DEFAULT_FAILURE_THRESHOLD,
    DEFAULT_PROBE_INTERVAL,
)
from hitbox._durations import Duration
from hitbox._errors import ConfigError
from hitbox.backend._config import BackendConfig
from hitbox.backend._contract import Backend, InvalidationBus

if TYPE_CHECKING:
    from hitbox.tiered import TieredBackend

__all__ = [
    "TieredConfig",
    "WritePolicy",
    "check_options",
    "check_tiers",
    "create_tiered_backend",
    "find_bus",
]

WritePolicy = Literal["sequential", "concurrent"]
"""How writes reach the tiers: one after another, lowest first, or all at once."""


class TieredConfig(BackendConfig):
    """Settings of the ``tiered`` backend (:class:`hitbox.tiered.TieredBackend`)."""

    tiers: list[str | dict[str, Any]] = Field(min_length=1)
    """Backend sections, L1 first: names (``"memory"``), URLs or tables."""
    write_policy: WritePolicy = "sequential"
    """``sequential`` (lowest tier first) or ``concurrent`` writes and deletes."""
    bus: str | int | dict[str, Any] = "auto"
    """``"auto"`` (the first tier offering an invalidation bus), ``"none"``, a tier's
    index, or a backend section (name, URL or table) that offers one."""
    private_tiers: int | None = Field(default=None, ge=0)
    """How many upper tiers belong to this instance (default: those above the bus tier,
    or all but the last)."""
    max_l1_ttl: Duration | None = Field(default=None, gt=0)
    """Longest lifetime of a private entry while the bus works (default: its own)."""
    outage_l1_ttl: Duration = Field(default=1.0, gt=0)
    """Longest lifetime of a private entry while the bus is down or recovering."""
    negative_ttl: Duration = Field(default=30.0, ge=0)
    """Seconds private tiers remember that no tier has a key (0: never)."""
    probe_interval: Duration = Field(default=0.5, gt=0)
    """Seconds between health checks of the bus."""
    recovery_grace: Duration = Field(default=3.0, ge=0)
    """Seconds private entries stay short-lived after the bus answers again (or at start)."""
    tier_timeout: Duration | None = Field(default=DEFAULT_BACKEND_TIMEOUT, gt=0)
    """Seconds a call to a remote tier may take; ``None``: the tier's own timeouts (and
    the cache's ``backend_timeout`` around the whole tiered call)."""
    failure_threshold: int = Field(default=DEFAULT_FAILURE_THRESHOLD, ge=1)
    """Consecutive failures (over several keys) after which a tier is skipped; the same
    default as :attr:`hitbox.Policy.failure_threshold`."""
    cooldown: Duration = Field(default=DEFAULT_PROBE_INTERVAL, gt=0)
    """Seconds between two probes of a skipped tier; the same default as
    :attr:`hitbox.Policy.cooldown`."""


_PATH = re.compile(r"(?:^|(?<=: ))backend(?=[.:])")


def _anchor(exc: ConfigError, where: str) -> ConfigError:
    """``exc`` (raised for a section resolved as ``backend``) re-anchored at ``where``."""
    field = exc.field or "backend"
    message = str(exc)
    if field.startswith("backend"):
        field = where + field[len("backend") :]
        # "backend.x: ..." at the start or after "invalid configuration: " names the path.
        message = _PATH.sub(where, message)
    else:
        if message.startswith(f"{field}:"):  # "private_tiers: ..." -> "backend.private_tiers: ..."
            message = f"{where}.{message}"
        field = f"{where}.{field}"
    if where not in message:
        message = f"{where}: {message}"
    return type(exc)(message, field=field, value=exc.value)


def _resolve(spec: str | dict[str, Any], where: str, signing_key: str | None) -> Backend:
    from hitbox.config import resolve_backend  # hitbox.config imports the plugin system

    try:
        return resolve_backend(spec, signing_key=signing_key)
    except ConfigError as exc:
        raise _anchor(exc, where) from None


def create_tiered_backend(config: TieredConfig) -> TieredBackend:
    """Build a :class:`~hitbox.tiered.TieredBackend` from a validated :class:`TieredConfig`."""
    from hitbox.tiered import TieredBackend

    key = config.signing_key
    signing_key = key.get_secret_value() if key is not None else None
    tiers = [
        _resolve(section, f"backend.tiers.{index}", signing_key)
        for index, section in enumerate(config.tiers)
    ]
    bus: InvalidationBus | Literal["auto"] | None
    spec = config.bus
    if isinstance(spec, str) and spec.strip().isdigit():
        spec = int(spec)
    if spec == "auto" or spec == "none":
        bus = None if spec == "none" else "auto"
    elif isinstance(spec, int):
        if not 0 <= spec < len(tiers):
            raise ConfigError(
                f"backend.bus: tier index {spec} is out of range (0..{len(tiers) - 1})",
                field="backend.bus",
                value=spec,
            )
        candidate: Backend = tiers[spec]
        if not isinstance(candidate, InvalidationBus):
            raise ConfigError(
                f"backend.bus: tier {spec} ({candidate.label}) offers no invalidation bus",
                field="backend.bus",
                value=spec,
            )
        bus = candidate
    else:
        built = _resolve(spec, "backend.bus", signing_key)
        if not isinstance(built, InvalidationBus):
            raise ConfigError(
                f"backend.bus: backend {built.label!r} offers no invalidation bus "
                "(publish_invalidation / subscribe_invalidations)",
                field="backend.bus",
                value=spec,
            )
        bus = built
    options = config.model_dump(exclude={"tiers", "bus", "signing_key"})
    try:
        return TieredBackend(tiers, bus=bus, **options)
    except ConfigError as exc:
        raise _anchor(exc, "backend") from None


def check_tiers(tiers: Sequence[Backend]) -> tuple[Backend, ...]:
    """The tiers as a tuple, each checked to be a distinct :class:`hitbox.Backend`."""
    backends = tuple(tiers)
    if not backends:
        raise ConfigError("tiers: give at least one backend", field="tiers", value=[])
    for index, backend in enumerate(backends):
        if not isinstance(backend, Backend):
            raise ConfigError(
                f"tiers[{index}]: expected a hitbox.Backend, got {type(backend).__name__}",
                field=f"tiers.{index}",
                value=backend,
            )
    if len({id(backend) for backend in backends}) != len(backends):
        raise ConfigError("tiers: the same backend appears twice", field="tiers", value=backends)
    return backends


def check_options(**options: Any) -> None:
    """Check the numeric options and the write policy of a tiered backend built in code."""
    policy = options.pop("write_policy")
    if policy not in ("sequential", "concurrent"):
        raise ConfigError(
            f"write_policy: expected 'sequential' or 'concurrent' (got {policy!r})",
            field="write_policy",
            value=policy,
        )
    for name, value in options.items():
        minimum = {"negative_ttl": 0.0, "recovery_grace": 0.0, "failure_threshold": 1}.get(name)
        if value is None and name in ("max_l1_ttl", "tier_timeout"):
            continue
        number_ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if (
            not number_ok
            or value != value
            or (value < minimum if minimum is not None else not value > 0)
        ):
            bound = f">= {minimum}" if minimum is not None else "> 0"
            raise ConfigError(
                f"{name}: must be a number {bound} (got {value!r})", field=name, value=value
            )


def find_bus(
    backends: tuple[Backend, ...], bus: InvalidationBus | str | None, private_tiers: int | None
) -> tuple[InvalidationBus | None, int | None, int]:
    """The bus object, its tier's index (``None`` when it is not a tier), and how many
    upper tiers are private (default: those above the bus tier, or all but the last)."""
    found: InvalidationBus | None = None
    index: int | None = None
    if bus == "auto":
        index = next(
            (i for i, backend in enumerate(backends) if isinstance(backend, InvalidationBus)),
            None,
        )
        found = None if index is None else cast(InvalidationBus, backends[index])
    elif bus is not None and bus != "none":
        if not isinstance(bus, InvalidationBus):
            raise ConfigError(
                f"bus: {type(bus).__name__} does not offer publish_invalidation and "
                "subscribe_invalidations (hitbox.InvalidationBus)",
                field="bus",
                value=bus,
            )
        found, target = bus, cast(object, bus)
        index = next((i for i, backend in enumerate(backends) if backend is target), None)
    if private_tiers is None:
        private_tiers = index if index is not None else len(backends) - 1
    if not 0 <= private_tiers <= len(backends):
        raise ConfigError(
            f"private_tiers: must be between 0 and {len(backends)} (got {private_tiers!r})",
            field="private_tiers",
            value=private_tiers,
        )
    return found, index, private_tiers
