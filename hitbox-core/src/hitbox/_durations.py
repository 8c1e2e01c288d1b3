"""Durations as people write them: ``90``, ``"90s"``, ``"5m"``, ``"1h30m"``, ``"1d"``,
``"250ms"`` or a :class:`datetime.timedelta` — always seconds (a float) once parsed.

The one parser of durations in Hitbox. Configuration models use :data:`Duration` for their
time fields (``ttl: Duration = Field(gt=0)``); code taking a duration argument calls
:func:`parse_duration`, which raises a one-line :class:`hitbox.ConfigError` naming the
field and the value.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any, Final

from pydantic import BeforeValidator

from hitbox._errors import ConfigError

__all__ = ["Duration", "DurationLike", "parse_duration", "to_seconds"]

_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_NUMBER = r"\d+(?:\.\d*)?|\.\d+"
_PART = re.compile(rf"\s*({_NUMBER})\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_WHOLE = re.compile(rf"(?:\s*(?:{_NUMBER})\s*(?:ms|s|m|h|d|w))+\s*", re.IGNORECASE)

DurationLike = float | int | str | timedelta
"""What a duration argument accepts: seconds, a string with units, or a timedelta."""

_EXPECTED = (
    "not a duration: use seconds or numbers with units ms, s, m, h, d, w, e.g. '90s', '1h30m'"
)


def to_seconds(value: Any) -> Any:
    """``value`` in seconds if it is a string or a timedelta; ``ValueError`` (no value in
    the message) if it is a string that is no duration, or a bool. Numbers and other
    values pass through untouched, so a model's own checks report them as given."""
    if isinstance(value, bool):
        raise ValueError(_EXPECTED)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if not isinstance(value, str):
        return value  # numbers as given, so an error quotes what the user wrote
    text = value.strip()
    try:
        seconds = float(text)  # plain seconds, as environment variables give them
    except ValueError:
        if not _WHOLE.fullmatch(text):
            raise ValueError(_EXPECTED) from None
        seconds = sum(float(n) * _UNITS[unit.lower()] for n, unit in _PART.findall(text))
    if math.isnan(seconds):
        raise ValueError(_EXPECTED)
    return seconds


def parse_duration(value: DurationLike, field: str = "duration") -> float:
    """``value`` in seconds; :class:`hitbox.ConfigError` naming ``field`` if it is none.

    ``parse_duration("1h30m") == 5400.0``, ``parse_duration(timedelta(minutes=5)) == 300.0``.
    """
    try:
        seconds = to_seconds(value)
    except ValueError as exc:
        raise ConfigError(f"{field}: {exc} (got {value!r})", field=field, value=value) from None
    if not isinstance(seconds, (int, float)) or math.isnan(seconds):
        raise ConfigError(f"{field}: {_EXPECTED} (got {value!r})", field=field, value=value)
    return float(seconds)


Duration = Annotated[float, BeforeValidator(to_seconds)]
"""A pydantic field type for seconds that also accepts ``"5m"``, ``"1h30m"``, timedelta."""
