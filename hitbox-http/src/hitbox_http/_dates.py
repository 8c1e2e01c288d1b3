"""HTTP dates (RFC 9110 §5.6.7): parsing all three formats, formatting IMF-fixdate.

Parsing is tolerant of case and of extra whitespace, and never raises: a value that is
not a date gives ``None``. What ``None`` means is decided by the caller — for
``Expires`` it means "already expired" (RFC 9111 §5.3).
"""

from __future__ import annotations

import calendar
import re
import time
from typing import Final

__all__ = ["format_http_date", "parse_http_date"]

_MONTHS: Final = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_DAY_NAME = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*"
_TIME = r"(\d{1,2}):(\d{2}):(\d{2})"

# Sun, 06 Nov 1994 08:49:37 GMT
_IMF_FIXDATE: Final = re.compile(
    rf"^{_DAY_NAME}\s*,\s*(\d{{1,2}})\s+([a-z]{{3}})\s+(\d{{4}})\s+{_TIME}\s+gmt$", re.IGNORECASE
)
# Sunday, 06-Nov-94 08:49:37 GMT
_RFC850: Final = re.compile(
    rf"^{_DAY_NAME}\s*,\s*(\d{{1,2}})-([a-z]{{3}})-(\d{{2}})\s+{_TIME}\s+gmt$", re.IGNORECASE
)
# Sun Nov  6 08:49:37 1994
_ASCTIME: Final = re.compile(
    rf"^{_DAY_NAME}\s+([a-z]{{3}})\s+(\d{{1,2}})\s+{_TIME}\s+(\d{{4}})$", re.IGNORECASE
)

_DAY_NAMES: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES: Final = tuple(name.title() for name in _MONTHS)
_MAX_TIMESTAMP: Final = 253402300799.0  # 9999-12-31T23:59:59Z, the largest 4-digit year


def parse_http_date(value: str, *, now: float | None = None) -> float | None:
    """Unix seconds for an HTTP date in any of the three formats, or ``None`` if invalid.

    ``now`` resolves two-digit rfc850 years; it defaults to the wall clock.

    Example::

        parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT")   # 784111777.0
        parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT")  # 784111777.0
        parse_http_date("Sun Nov  6 08:49:37 1994")        # 784111777.0
        parse_http_date("0")                               # None
    """
    text = value.strip()
    if len(text) > 64:
        return None
    if match := _IMF_FIXDATE.match(text):
        day, month, year, hour, minute, second = match.groups()
        return _timestamp(int(year), month, day, hour, minute, second)
    if match := _RFC850.match(text):
        day, month, short_year, hour, minute, second = match.groups()
        return _timestamp(_full_year(int(short_year), now), month, day, hour, minute, second)
    if match := _ASCTIME.match(text):
        month, day, hour, minute, second, year = match.groups()
        return _timestamp(int(year), month, day, hour, minute, second)
    return None


def _full_year(short_year: int, now: float | None) -> int:
    # RFC 9110 §5.6.7: "Recipients of a timestamp value in rfc850-date format, which uses a
    # two-digit year, MUST interpret a timestamp that appears to be more than 50 years in
    # the future as representing the most recent year in the past that had the same last
    # two digits."
    current_year = time.gmtime(time.time() if now is None else now).tm_year
    year = current_year - current_year % 100 + short_year
    if year > current_year + 50:
        year -= 100
    return year


def _timestamp(
    year: int, month: str, day: str, hour: str, minute: str, second: str
) -> float | None:
    month_number = _MONTHS.get(month.lower())
    if month_number is None:
        return None
    day_number, hours, minutes, seconds = int(day), int(hour), int(minute), int(second)
    if year < 1 or not 1 <= day_number <= calendar.monthrange(year, month_number)[1]:
        return None
    # A leap second (":60") is allowed by the grammar; it folds into the next second.
    if hours > 23 or minutes > 59 or seconds > 60:
        return None
    return float(
        calendar.timegm((year, month_number, day_number, hours, minutes, seconds, 0, 0, 0))
    )


def format_http_date(timestamp: float) -> str:
    """``timestamp`` (unix seconds) as an IMF-fixdate, the only format senders may use.

    Values beyond year 9999 are clamped, so the result always parses back.
    """
    clamped = min(max(timestamp, 0.0), _MAX_TIMESTAMP)
    parts = time.gmtime(clamped)
    day_name = _DAY_NAMES[parts.tm_wday]
    month = _MONTH_NAMES[parts.tm_mon - 1]
    return (
        f"{day_name}, {parts.tm_mday:02d} {month} {parts.tm_year:04d} "
        f"{parts.tm_hour:02d}:{parts.tm_min:02d}:{parts.tm_sec:02d} GMT"
    )
