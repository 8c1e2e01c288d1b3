"""The caching policy: how long entries live, how stampedes and failures are handled.

A :class:`Policy` is an immutable, validated pydantic model. A cache has one; each call
(``@cache.cached(ttl=...)``, a request's own TTL) may override fields through
:meth:`Policy.merged`, which returns a new validated policy.

Time fields are seconds (floats); they accept durations as people write them too:
``"90s"``, ``"5m"``, ``"1h30m"``, ``"1d"``, ``"250ms"`` or a :class:`datetime.timedelta`
(see :func:`hitbox.parse_duration`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hitbox._defaults import (
    DEFAULT_BACKEND_TIMEOUT,
    DEFAULT_FAILURE_THRESHOLD,
    DEFAULT_PROBE_INTERVAL,
)
from hitbox._durations import Duration
from hitbox._errors import ConfigError, field_path, suggestion

__all__ = ["DEFAULT_BACKEND_TIMEOUT", "LockMode", "Policy"]

LockMode = Literal["none", "local", "distributed"]
"""How concurrent callers of one cold key are collapsed (see :attr:`Policy.lock`)."""


@final
class Policy(BaseModel):
    """What the cache does with each key: lifetimes, locking, timeouts and failure handling.

    Example::

        policy = Policy(ttl=60, max_stale=30)
        per_call = policy.merged(ttl=5)  # a new Policy; ``policy`` is unchanged

    Entries are *fresh* for ``ttl`` seconds, then *stale* for ``max_stale`` more seconds
    (served at once while one background refresh runs), then gone. With
    ``stale_if_error`` an entry is kept that much longer still, but only served when the
    upstream fails.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    ttl: Duration = Field(default=60.0, gt=0)
    """Seconds an entry is fresh (served without revalidation)."""

    max_stale: Duration = Field(default=0.0, ge=0)
    """Seconds after ``ttl`` during which a stale entry is served while it is refreshed."""

    stale_if_error: Duration = Field(default=0.0, ge=0)
    """Seconds after the stale window during which an entry is served if the upstream fails."""

    lock: LockMode = "local"
    """Single-flight for cold keys: ``"none"`` (every caller goes upstream), ``"local"``
    (one upstream call per key in this process) or ``"distributed"`` (one per key across
    processes, through a backend with the ``LockingBackend`` capability; falls back to
    ``"local"`` when the backend lacks it)."""

    lock_timeout: Duration = Field(default=5.0, gt=0)
    """Seconds a caller waits for another caller's refresh before calling upstream itself.
    Also the lease of a distributed lock."""

    backend_timeout: Duration = Field(default=DEFAULT_BACKEND_TIMEOUT, gt=0)
    """Seconds one backend operation may take before the cache fails open (ignored for
    in-process backends)."""

    failure_threshold: int = Field(default=DEFAULT_FAILURE_THRESHOLD, ge=1)
    """Consecutive backend read failures, over at least two keys, that open the circuit
    breaker (one key failing alone is remembered and skipped instead)."""

    cooldown: Duration = Field(default=DEFAULT_PROBE_INTERVAL, gt=0)
    """Seconds between two probes of the open breaker's backend (its health check, run in
    the background, or else one call let through); the first probe that succeeds closes
    it."""

    cache_none: bool = False
    """Whether a ``None`` result is stored. Off by default: ``None`` usually means "not
    found", and caching it hides a record created a moment later."""

    cacheable: Callable[[Any], bool] | None = Field(default=None, exclude=True)
    """A predicate on results; a result it refuses is returned to its caller but neither
    stored nor handed to waiting callers. Not serialized."""

    if not TYPE_CHECKING:  # type checkers keep pydantic's typed signature of Policy(...)

        def __init__(self, **data: Any) -> None:
            """Validate ``data``; a mistake is a one-line :class:`hitbox.ConfigError`."""
            try:
                super().__init__(**data)
            except ValidationError as exc:
                raise _config_error(exc, data) from None

    @property
    def lifetime(self) -> float:
        """Seconds a stored entry is kept: fresh, stale and stale-if-error windows together."""
        return self.ttl + self.max_stale + self.stale_if_error

    def merged(self, **overrides: Any) -> Policy:
        """A copy with ``overrides`` applied and validated; ``None`` values are ignored.

        Raises :class:`hitbox.ConfigError` naming the field and value when an override
        is unknown or invalid.
        """
        updates = {name: value for name, value in overrides.items() if value is not None}
        if not updates:
            return self
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        fields.update(updates)
        return Policy.validated(fields)

    @classmethod
    def validated(cls, data: Any) -> Policy:
        """Build a policy from a mapping, turning validation errors into :class:`ConfigError`."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise _config_error(exc, data) from None


def _config_error(exc: ValidationError, data: Any) -> ConfigError:
    error = exc.errors()[0]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, ConfigError):  # raised by __init__, which model_validate calls
        return cause
    field = field_path(error["loc"]) or None
    value = error.get("input")
    if error["type"] == "extra_forbidden":
        hint = suggestion(str(error["loc"][0]), Policy.model_fields)
        message = f"policy.{field}: unknown setting{hint}"
    else:
        reason = str(error["msg"]).removeprefix("Value error, ")
        message = f"policy.{field}: {reason} (got {value!r})"
    return ConfigError(message, field=f"policy.{field}" if field else "policy", value=value)
