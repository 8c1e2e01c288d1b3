"""Range requests answered from a stored complete response (RFC 9110 §14, §13.1.5).

Only what the cache already holds is cut: a stored ``200`` answers a single byte range
with a ``206`` and ``Content-Range``, an unsatisfiable one with a ``416``. Everything
the RFC lets a server ignore is ignored — the client then receives the whole ``200``:
other range units, an invalid ``Range``, several ranges (the cache never builds
``multipart/byteranges``), an empty representation, and an ``If-Range`` that does not
match the stored response strongly. A request whose range the cache cannot answer from
storage goes to the origin as sent and its (partial) response is not stored.
"""

from __future__ import annotations

from typing import Final

from hitbox_http._dates import parse_http_date
from hitbox_http._fields import parse_entity_tag, strong_match
from hitbox_http._headers import Headers
from hitbox_http._models import Request, Response

__all__ = ["RANGE_FIELDS", "byte_range", "ranged_response"]

RANGE_FIELDS: Final = ("range", "if-range")
_MAX_DIGITS: Final = 19  # beyond any representation this cache stores
# A 416 describes the representation's length, not its content.
_UNSATISFIABLE_FIELDS: Final = frozenset(
    {"date", "age", "cache-status", "etag", "last-modified", "cache-control", "expires", "vary"}
)


def _position(text: str) -> int | None:
    if not text or len(text) > _MAX_DIGITS or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def byte_range(value: str, length: int) -> tuple[int, int] | bool | None:
    """The range ``Range: value`` selects in ``length`` bytes.

    ``(first, last)`` (inclusive) for one satisfiable range; ``False`` when it is a
    single valid range that is not satisfiable (RFC 9110 §14.1.1: an int-range whose
    first-pos is not less than the length, or a zero suffix-length); ``None`` when the
    field is to be ignored (another unit, invalid syntax, several ranges, no bytes).
    """
    unit, sep, ranges = value.partition("=")
    # §14.1: "Range units are compared case-insensitively."
    if not sep or unit.strip(" \t").lower() != "bytes" or length == 0:
        return None
    specs = [spec.strip(" \t") for spec in ranges.split(",")]
    specs = [spec for spec in specs if spec]  # §5.6.1: empty list members are ignored
    if len(specs) != 1:
        return None  # §14.2: "A server MAY ignore the Range header field."
    first_text, dash, last_text = specs[0].partition("-")
    if not dash:
        return None
    if not first_text:
        # suffix-range: "-" suffix-length
        suffix = _position(last_text)
        if suffix is None:
            return None
        if suffix == 0:
            return False
        return max(0, length - suffix), length - 1
    first = _position(first_text)
    if first is None:
        return None
    last = length - 1
    if last_text:
        parsed_last = _position(last_text)
        # §14.1.1: "A range with last-pos less than first-pos is invalid."
        if parsed_last is None or parsed_last < first:
            return None
        last = min(parsed_last, length - 1)
    if first >= length:
        return False
    return first, last


def _if_range_holds(request: Request, stored: Headers) -> bool:
    """RFC 9110 §13.1.5: the Range applies only if the validator in ``If-Range`` matches
    the stored representation, compared strongly."""
    lines = request.headers.get_all("if-range")
    if not lines:
        return True
    if len(lines) > 1:
        return False
    value = lines[0].strip(" \t")
    if value.startswith('"') or value[:2] in ("W/", "w/"):
        # "A client MUST NOT generate an If-Range header field containing an entity tag
        # that is marked as weak." — and a weak one never matches strongly.
        return strong_match(parse_entity_tag(value), parse_entity_tag(stored.get("etag")))
    # "If the validator given in the If-Range header field is a date, the condition is
    # true if the Last-Modified ... is identical to it and is a strong validator", and a
    # date is strong if it is at least a second before the response's Date (§8.8.2.2).
    since = parse_http_date(value)
    last_modified_line = stored.get("last-modified")
    date_line = stored.get("date")
    last_modified = parse_http_date(last_modified_line) if last_modified_line else None
    date = parse_http_date(date_line) if date_line else None
    return (
        since is not None
        and last_modified is not None
        and date is not None
        and since == last_modified
        and date - last_modified >= 1
    )


def ranged_response(request: Request, response: Response) -> Response:
    """``response`` (a stored ``200`` about to be reused for ``request``) cut to the
    request's ``Range`` when RFC 9110 §14 lets the cache do so, else unchanged."""
    value = request.headers.get_all("range")
    if request.method != "GET" or response.status != 200 or len(value) != 1:
        return response
    if not _if_range_holds(request, response.headers):
        return response  # §13.1.5: "the server ... MUST ignore the Range header field"
    body = response.body
    selected = byte_range(value[0], len(body))
    if selected is None:
        return response
    if selected is False:
        # §15.5.17: a 416 "SHOULD generate a Content-Range header field specifying the
        # current length of the selected representation".
        kept = [item for item in response.headers if item[0] in _UNSATISFIABLE_FIELDS]
        headers = Headers(kept).add("content-range", f"bytes */{len(body)}")
        return Response(416, headers.add("content-length", "0"), b"")
    assert isinstance(selected, tuple)
    first, last = selected
    part = body[first : last + 1]
    headers = response.headers.without("content-length", "content-range")
    headers = headers.add("content-range", f"bytes {first}-{last}/{len(body)}")
    return Response(206, headers.add("content-length", str(len(part))), part)
