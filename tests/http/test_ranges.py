"""Range requests served from a stored complete 200 (RFC 9110 §14, §13.1.5), through the
middleware and the proxy over loopback; what the cache cannot cut goes to the origin."""

from __future__ import annotations

from typing import Any

import hitbox
import httpx
import pytest
from hitbox_http import CacheMiddleware, HttpCache, HttpPolicy, format_http_date
from hitbox_http._proxy import CachingProxy
from hitbox_http._ranges import byte_range
from hitbox_memory import MemoryBackend

from tests.http.asgi_apps import Origin, client, header_of
from tests.http.servers import serve

BODY = b"0123456789" * 10
T0 = 1_700_000_000.0
LAST_MODIFIED = format_http_date(T0 - 86_400)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes=0-4", (0, 4)),
        ("BYTES=95-", (95, 99)),
        ("bytes=-3", (97, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=90-200", (90, 99)),
        ("bytes= 1-1 ,", (1, 1)),
        ("bytes=100-", False),
        ("bytes=-0", False),
        ("bytes=5-2", None),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
        ("bytes=a-b", None),
        ("bytes=1", None),
        ("bytes=", None),
        ("bytes=99999999999999999999999-", None),
    ],
)
def test_byte_range(value: str, expected: tuple[int, int] | bool | None) -> None:
    assert byte_range(value, 100) == expected


def test_an_empty_representation_is_served_whole() -> None:
    assert byte_range("bytes=-5", 0) is None


def origin_handler(scope: Any, _: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [
        ("cache-control", "max-age=60"),
        ("etag", '"f1"'),
        ("last-modified", LAST_MODIFIED),
        ("content-type", "text/plain"),
    ]
    if header_of(scope, "range") == "bytes=0-4":
        return 206, [*headers, ("content-range", "bytes 0-4/100")], BODY[:5]
    return 200, headers, BODY


# (Range, If-Range) -> (status, body, Content-Range)
FROM_STORAGE: dict[tuple[str, str | None], tuple[int, bytes, str | None]] = {
    ("bytes=0-4", None): (206, b"01234", "bytes 0-4/100"),
    ("bytes=95-", None): (206, b"56789", "bytes 95-99/100"),
    ("bytes=-3", None): (206, b"789", "bytes 97-99/100"),
    ("bytes=90-200", None): (206, BODY[90:], "bytes 90-99/100"),
    ("bytes=100-", None): (416, b"", "bytes */100"),
    ("bytes=-0", None): (416, b"", "bytes */100"),
    ("bytes=5-2", None): (200, BODY, None),
    ("bytes=0-1,5-6", None): (200, BODY, None),
    ("items=0-1", None): (200, BODY, None),
    ("bytes=0-4", '"f1"'): (206, b"01234", "bytes 0-4/100"),
    ("bytes=0-4", '"f2"'): (200, BODY, None),
    ("bytes=0-4", 'W/"f1"'): (200, BODY, None),
    ("bytes=0-4", LAST_MODIFIED): (206, b"01234", "bytes 0-4/100"),
    ("bytes=0-4", format_http_date(T0 - 10)): (200, BODY, None),
}


async def _exercise(http: httpx.AsyncClient) -> dict[str, Any]:
    before = await http.get("/before", headers={"range": "bytes=0-4"})
    after_range = await http.get("/before")
    await http.get("/file")
    answers = {}
    for (value, if_range), _ in FROM_STORAGE.items():
        headers = {"range": value}
        if if_range is not None:
            headers["if-range"] = if_range
        answers[(value, if_range)] = await http.get("/file", headers=headers)
    head = await http.head("/file", headers={"range": "bytes=0-4"})
    return {"before": before, "after_range": after_range, "answers": answers, "head": head}


def check(results: dict[str, Any], origin: Origin, *, later_calls: int = 0) -> None:
    before = results["before"]
    assert before.status_code == 206  # the origin's own partial response, passed on
    assert before.content == b"01234"
    assert header_of(origin.calls[0], "range") == "bytes=0-4"
    assert not before.headers["cache-status"].endswith("stored")
    assert results["after_range"].headers["cache-status"].startswith("hitbox; fwd=uri-miss")
    for key, (status, body, content_range) in FROM_STORAGE.items():
        response = results["answers"][key]
        assert response.status_code == status, key
        assert response.content == body, key
        assert response.headers.get("content-range") == content_range, key
        assert response.headers["content-length"] == str(len(body)), key
        assert response.headers["cache-status"].startswith("hitbox; hit"), key
    assert results["head"].status_code == 200  # Range is defined for GET only
    assert results["head"].headers["content-length"] == "100"
    # /before twice and /file once: everything else came from storage.
    assert len(origin.calls) == 3 + later_calls


async def test_middleware_serves_ranges_from_storage() -> None:
    clock = hitbox.ManualClock(T0)
    origin = Origin(origin_handler)
    cache = hitbox.Cache(MemoryBackend(clock=clock), clock=clock)
    async with client(CacheMiddleware(origin, cache=cache)) as http:
        results = await _exercise(http)
        await clock.advance(120)  # stale: the range goes to the origin as sent
        stale = await http.get("/file", headers={"range": "bytes=0-4"})
    check(results, origin, later_calls=1)
    assert stale.status_code == 206
    assert stale.headers["cache-status"].startswith("hitbox; fwd=stale; fwd-status=206")
    assert header_of(origin.calls[-1], "range") == "bytes=0-4"


@pytest.mark.services
async def test_proxy_serves_ranges_from_storage() -> None:
    origin = Origin(origin_handler)
    with serve(origin) as upstream:
        proxy = CachingProxy(upstream, HttpCache(MemoryBackend(), HttpPolicy()))
        with serve(proxy) as url:
            async with httpx.AsyncClient(base_url=url) as http:
                results = await _exercise(http)
    check(results, origin)
