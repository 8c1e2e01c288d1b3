"""`hitbox proxy`'s own HTTP/1.1 server (``--http fast``): the same answers as under
uvicorn, hits answered in place yet counted and reported the same way, and the limits
and refusals of an edge server — against real servers on loopback."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import hitbox
import httpx
import pytest
from hitbox.keys import DefaultKeyStrategy
from hitbox.serializers import CborSerializer
from hitbox_http import HttpCache, HttpPolicy
from hitbox_http._http1_config import ServerLimits
from hitbox_http._models import Response
from hitbox_http._proxy import CachingProxy
from hitbox_memory import MemoryBackend

from tests.core._cache_fakes import EventRecorder, plugin_manager
from tests.http.asgi_apps import Origin, header_of
from tests.http.helpers import raw_exchange
from tests.http.servers import SERVERS, serve

pytestmark = pytest.mark.services

S = hitbox.State
LAST_MODIFIED = "Mon, 01 Jan 2024 00:00:00 GMT"


def _cache(clock: hitbox.ManualClock, recorder: EventRecorder | None = None) -> hitbox.Cache:
    # Not tests.core's make_cache: an empty MemoryBackend is falsy there (it has a length).
    plugins = plugin_manager(recorder) if recorder is not None else plugin_manager()
    return hitbox.Cache(
        MemoryBackend(clock=clock),
        serializer=CborSerializer(),
        key_strategy=DefaultKeyStrategy(),
        clock=clock,
        plugins=plugins,
    )


def varied(scope: Any, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """An origin whose answer depends on the path; each body tells which call made it."""
    path = scope["path"]
    headers = [("cache-control", "max-age=600"), ("content-type", "text/plain")]
    text = f"{path} {scope['method']} {len(body)}"
    if path == "/vary":
        headers.append(("vary", "accept-encoding"))
        text += " " + (header_of(scope, "accept-encoding") or "-")
    elif path == "/etag":
        headers += [("etag", '"v1"'), ("last-modified", LAST_MODIFIED)]
    elif path == "/private":
        headers[0] = ("cache-control", "private, max-age=600")
    elif path == "/cookie":
        headers.append(("set-cookie", "session=alice"))
    elif path == "/user":
        text += " " + (header_of(scope, "authorization") or "anonymous")
    elif path == "/nostore":
        headers[0] = ("cache-control", "no-store")
    return 200, headers, text.encode()


class CountingOrigin(Origin):
    """:class:`Origin` whose body also carries how many calls came before."""

    def __init__(self) -> None:
        super().__init__(self._answer)

    def _answer(self, scope: Any, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        status, headers, text = varied(scope, body)
        return status, headers, text + f" #{len(self.calls)}".encode()


EXCHANGES: list[tuple[str, str, dict[str, str], bytes]] = [
    ("GET", "/plain", {}, b""),
    ("GET", "/plain", {}, b""),  # a hit
    ("HEAD", "/plain", {}, b""),  # from the stored GET
    ("GET", "/plain", {"range": "bytes=0-3"}, b""),  # 206 cut from storage
    ("GET", "/plain", {"range": "bytes=9000-"}, b""),  # 416
    ("GET", "/etag", {}, b""),
    ("GET", "/etag", {"if-none-match": '"v1"'}, b""),  # 304 from the cache
    ("GET", "/etag", {"if-modified-since": "Tue, 02 Jan 2024 00:00:00 GMT"}, b""),
    ("GET", "/vary", {"accept-encoding": "gzip"}, b""),
    ("GET", "/vary", {"accept-encoding": "br"}, b""),  # another variant: a miss
    ("GET", "/vary", {"accept-encoding": "gzip"}, b""),  # the first variant: a hit
    ("GET", "/private", {}, b""),
    ("GET", "/private", {}, b""),  # never stored: the origin again
    ("GET", "/cookie", {}, b""),
    ("GET", "/cookie", {}, b""),  # Set-Cookie: never stored
    ("GET", "/user", {"authorization": "Bearer alice"}, b""),
    ("GET", "/user", {"authorization": "Bearer bob"}, b""),  # never alice's answer
    ("GET", "/user", {}, b""),
    ("GET", "/nostore", {}, b""),
    ("GET", "/nostore", {}, b""),
    ("GET", "/plain", {"cache-control": "no-cache"}, b""),  # validated: the origin
    ("GET", "/plain", {"pragma": "no-cache"}, b""),
    ("GET", "/plain", {"cache-control": "max-age=0"}, b""),
    ("GET", "/plain", {"x-forwarded-host": "evil.example"}, b""),  # dropped at the edge
    ("GET", "/body", {}, b"EVIL"),  # a GET with a body: never cached
    ("GET", "/body", {}, b""),
    ("POST", "/plain", {}, b"data"),  # invalidates /plain
    ("GET", "/plain", {}, b""),
    ("GET", "/plain", {}, b""),
    ("GET", "/missing?x=1", {}, b""),
    ("GET", "/missing?x=1", {}, b""),
]


def _seen(response: httpx.Response) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    # Date is the only field allowed to differ (it is the proxy's clock when the origin
    # sent none; both caches here run on frozen clocks, so Age is the same).
    headers = [(n.lower(), v) for n, v in response.headers.raw if n.lower() != b"date"]
    return response.status_code, headers, response.content


async def _run_exchanges(
    http: str, make_cache: Callable[[hitbox.ManualClock], hitbox.Cache] = _cache
) -> tuple[list[Any], hitbox.Stats, int]:
    clock = hitbox.ManualClock()
    origin = CountingOrigin()
    with serve(origin) as upstream:
        cache = make_cache(clock)
        proxy = CachingProxy(upstream, HttpCache(cache, HttpPolicy()), timeout=5)
        answered_now = _count_answers_now(proxy)
        with serve(proxy, http=http) as url:
            async with httpx.AsyncClient(base_url=url) as client:
                seen = []
                for method, path, headers, body in EXCHANGES:
                    response = await client.request(method, path, headers=headers, content=body)
                    seen.append(_seen(response))
        await proxy.aclose()
    return seen, proxy.cache.stats(), answered_now()


def _count_answers_now(proxy: CachingProxy) -> Callable[[], int]:
    """Count the requests the server answers in place (``respond_now`` had a response)."""
    answered = [0]
    respond_now = proxy.respond_now

    def counting(scope: Any) -> Response | None:
        response = respond_now(scope)
        answered[0] += response is not None
        return response

    proxy.respond_now = counting  # type: ignore[method-assign]
    return lambda: answered[0]


async def test_both_servers_answer_the_same_requests_the_same() -> None:
    under_h11, h11_stats, h11_now = await _run_exchanges("h11")
    fast, fast_stats, fast_now = await _run_exchanges("fast")
    for index, (expected, got) in enumerate(zip(under_h11, fast, strict=True)):
        assert got == expected, (index, EXCHANGES[index][:2])
    assert fast_stats == h11_stats
    assert h11_now == 0  # uvicorn never asks
    # Hits, HEAD, the 206/416/304 answers from storage and the variant hit: in place.
    assert fast_now == 11  # (max-age=0 at age 0 and the edge-dropped field are hits too)
    statuses = [status for status, _, _ in fast]
    assert statuses[:8] == [200, 200, 200, 206, 416, 200, 304, 304]
    cache_status = [dict(headers)[b"cache-status"] for _, headers, _ in fast]
    assert cache_status[1].startswith(b"hitbox; hit")
    bodies = [body for _, _, body in fast]
    assert bodies[16].startswith(b"/user GET 0 Bearer bob")  # never alice's
    assert bodies[25] != bodies[24]
    assert b"EVIL" not in bodies[25]


async def test_hits_in_place_are_counted_and_reported_as_runs() -> None:
    clock = hitbox.ManualClock()
    recorder = EventRecorder()
    cache = _cache(clock, recorder)
    origin = CountingOrigin()
    with serve(origin) as upstream:
        proxy = CachingProxy(upstream, HttpCache(cache, HttpPolicy()), timeout=5)
        answered_now = _count_answers_now(proxy)
        with serve(proxy, http="fast") as url:
            async with httpx.AsyncClient(base_url=url) as client:
                ages = []
                for _ in range(4):
                    ages.append((await client.get("/plain")).headers.get("age"))
                    ages.append((await client.get("/plain")).headers.get("age"))
                    await clock.advance(1.5)
        await proxy.aclose()
    assert answered_now() == 7
    assert (
        recorder.paths() == [(S.PENDING, S.MISS, S.RESPONSE)] + [(S.PENDING, S.HIT, S.RESPONSE)] * 7
    )
    stats = proxy.cache.stats()
    assert (stats.hits, stats.misses) == (7, 1)
    # The kept answer follows the clock: Age is never a second behind.
    assert ages == [None, "0", "1", "1", "3", "3", "4", "4"]  # None: the miss
    assert len(origin.calls) == 1


async def test_the_testing_switch_turns_answers_in_place_off() -> None:
    origin = CountingOrigin()
    with serve(origin) as upstream:
        proxy = CachingProxy(
            upstream, HttpCache(_cache(hitbox.ManualClock()), HttpPolicy()), timeout=5
        )
        answered_now = _count_answers_now(proxy)
        with serve(proxy, http="fast") as url:
            async with httpx.AsyncClient(base_url=url) as client:
                await client.get("/plain")  # stored
                await client.get("/plain")  # in place (and kept)
                with hitbox.disabled():
                    off = [await client.get("/plain") for _ in range(2)]
                back = await client.get("/plain")
        await proxy.aclose()
    assert answered_now() == 2  # before and after, never while caching is off
    assert len(origin.calls) == 3
    assert {response.headers["cache-status"] for response in off} == {
        "hitbox; fwd=bypass; fwd-status=200"
    }
    assert back.headers["cache-status"].startswith("hitbox; hit")


async def test_a_kept_answer_is_dropped_when_the_stored_response_changes() -> None:
    origin = CountingOrigin()
    with serve(origin) as upstream:
        proxy = CachingProxy(upstream, HttpCache(MemoryBackend(), HttpPolicy()), timeout=5)
        with serve(proxy, http="fast") as url:
            async with httpx.AsyncClient(base_url=url) as client:
                first = (await client.get("/plain")).content
                assert (await client.get("/plain")).content == first
                await client.post("/plain", content=b"x")  # invalidates, then refilled:
                refilled = (await client.get("/plain")).content
                again = (await client.get("/plain")).content
        await proxy.aclose()
    assert refilled != first
    assert again == refilled


# -- requests the server refuses or bounds -----------------------------------------------

PARSER_REFUSALS = {
    "invalid-chunk-size": (
        b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    ),
    "obs-fold": b"GET /x HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2\r\n\r\n",
    "bare-lf": b"GET /x HTTP/1.1\nHost: h\n\n",
    "nul-in-value": b"GET /x HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n",
    "ctl-in-target": b"GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n",
    "same-length-twice": (
        b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab"
    ),
    "space-before-colon": b"GET /x HTTP/1.1\r\nHost : h\r\n\r\n",
    "smuggled-after-length-and-encoding": (
        b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /admin HTTP/1.1\r\nHost: h\r\n\r\n"
    ),
}


@pytest.fixture(scope="module")
def fast_proxy() -> Iterator[tuple[str, Origin]]:
    origin = CountingOrigin()
    with serve(origin) as upstream:
        proxy = CachingProxy(upstream, HttpCache(MemoryBackend(), HttpPolicy()), timeout=5)
        with serve(proxy, http="fast", limits=ServerLimits(head_timeout=0.5)) as url:
            yield url, origin


@pytest.mark.parametrize("case", PARSER_REFUSALS)
async def test_malformed_framing_is_a_400_that_reaches_nobody(
    fast_proxy: tuple[str, Origin], case: str, caplog: pytest.LogCaptureFixture
) -> None:
    url, origin = fast_proxy
    before = len(origin.calls)
    caplog.set_level(logging.INFO)
    answer = await raw_exchange(url, PARSER_REFUSALS[case])
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:80]
    assert answer.count(b"HTTP/1.1") == 1  # one answer, then the connection closed
    assert b"connection: close" in answer
    assert len(origin.calls) == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize(
    "head",
    [
        b"GET /x HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n",
        b"GET /x HTTP/1.1\r\nHost: h\r\n"
        + b"".join(b"X-%d: 1\r\n" % i for i in range(150))
        + b"\r\n",
        b"GET /" + b"a" * 40000 + b" HTTP/1.1\r\nHost: h\r\n\r\n",
    ],
    ids=["long-field", "many-fields", "long-target"],
)
async def test_oversized_heads_are_a_431(fast_proxy: tuple[str, Origin], head: bytes) -> None:
    url, origin = fast_proxy
    before = len(origin.calls)
    answer = await raw_exchange(url, head)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    assert len(origin.calls) == before


async def test_a_large_head_within_the_limit_is_served_in_pieces(
    fast_proxy: tuple[str, Origin],
) -> None:
    url, _ = fast_proxy
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        b"GET /plain HTTP/1.1\r\nHost: h\r\nCookie: "
        + b"c" * 24000
        + b"\r\nConnection: close\r\n\r\n"
    )
    for start in range(0, len(head), 7000):  # four reads, three of them all head
        writer.write(head[start : start + 7000])
        await writer.drain()
        await asyncio.sleep(0.05)
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:80]


async def test_an_endless_head_in_small_pieces_is_cut_off(fast_proxy: tuple[str, Origin]) -> None:
    url, _ = fast_proxy
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /x HTTP/1.1\r\nHost: h\r\n")
    try:
        for _ in range(100):  # 100 KB of field lines, one per read
            writer.write(b"X-Pad: " + b"a" * 1000 + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0)
    except ConnectionError:
        pass  # the server closed while the client still wrote
    try:
        answer = await asyncio.wait_for(reader.read(), 10)
    except ConnectionError:
        answer = b""  # the 431 was lost to the reset the unread bytes caused
    writer.close()
    # Cut off long before 100 KB: the answer is a 431 when the client gets to read it.
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:80]


async def test_a_slow_head_gets_a_408_and_a_silent_client_is_closed(
    fast_proxy: tuple[str, Origin],
) -> None:
    url, origin = fast_proxy
    host, port = url.removeprefix("http://").split(":")
    before = len(origin.calls)
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /slow HTTP/1.1\r\nHost: h\r\n")  # and never the end of the head
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
    silent_reader, silent_writer = await asyncio.open_connection(host, int(port))
    assert await asyncio.wait_for(silent_reader.read(), 5) == b""  # closed, no answer
    silent_writer.close()
    assert len(origin.calls) == before


async def test_pipelined_requests_are_answered_in_order(fast_proxy: tuple[str, Origin]) -> None:
    url, origin = fast_proxy
    async with httpx.AsyncClient(base_url=url) as client:
        await client.get("/pipe-hit")  # stored: answered in place below
    origin.delay = 0.2  # the misses below take a while: the hit behind them waits
    try:
        pipeline = b"".join(
            b"GET /%s HTTP/1.1\r\nHost: h\r\n\r\n" % path
            for path in (b"pipe-miss-1", b"pipe-hit", b"pipe-miss-2", b"pipe-hit")
        )
        answer = await raw_exchange(
            url, pipeline + b"GET /pipe-hit HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        )
    finally:
        origin.delay = 0.0
    paths = [line.split(b" ")[0] for line in answer.split(b"\r\n\r\n")[1:] if line.startswith(b"/")]
    assert paths == [b"/pipe-miss-1", b"/pipe-hit", b"/pipe-miss-2", b"/pipe-hit", b"/pipe-hit"]
    assert answer.count(b"HTTP/1.1 200 ") == 5


async def test_hits_a_client_does_not_read_are_not_buffered_without_bound() -> None:
    big = b"z" * (256 * 1024)
    origin = Origin(lambda scope, _: (200, [("cache-control", "max-age=600")], big))
    with serve(origin) as upstream:
        proxy = CachingProxy(upstream, HttpCache(MemoryBackend(), HttpPolicy()), timeout=5)
        answered_now = _count_answers_now(proxy)
        with serve(proxy, http="fast") as url:
            await raw_exchange(url, b"GET /big HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            host, port = url.removeprefix("http://").split(":")
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.connect((host, int(port)))
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n" * 200)  # and read nothing
            await asyncio.sleep(0.5)
            before_reading = answered_now()
            sock.setblocking(False)
            reader, writer = await asyncio.open_connection(sock=sock)
            bodies = []
            for _ in range(200):  # now read: every answer arrives, whole and in order
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                assert head.startswith(b"HTTP/1.1 200 ")
                length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
                bodies.append(await asyncio.wait_for(reader.readexactly(length), 10))
            writer.close()
        await proxy.aclose()
    assert before_reading < 40  # the rest waited for the client to read (not 200)
    assert bodies == [big] * 200


async def test_a_client_leaving_mid_response_leaves_the_server_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    big = b"x" * (8 * 1024 * 1024)
    origin = Origin(lambda scope, _: (200, [("cache-control", "no-store")], big))
    with serve(origin) as upstream:
        proxy = CachingProxy(upstream, HttpCache(MemoryBackend(), HttpPolicy()), timeout=5)
        with serve(proxy, http="fast") as url:
            host, port = url.removeprefix("http://").split(":")
            with socket.create_connection((host, int(port))) as sock:
                sock.sendall(b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
                assert sock.recv(1000).startswith(b"HTTP/1.1 200 ")
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
            async with httpx.AsyncClient(base_url=url) as client:
                after = await client.get("/big")
        await proxy.aclose()
    assert after.status_code == 200
    assert len(after.content) == len(big)
    assert not [r for r in caplog.records if r.exc_info]


async def test_request_bodies_stream_through_with_100_continue(
    fast_proxy: tuple[str, Origin],
) -> None:
    url, _origin = fast_proxy
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /upload HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    body = b"y" * 200_000
    writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"/upload POST 200000" in answer


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /v HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        (b"GET /plain HTTP/1.0\r\nHost: h\r\n\r\n", 200),
    ],
)
async def test_http_versions(fast_proxy: tuple[str, Origin], head: bytes, status: int) -> None:
    answer = await raw_exchange(fast_proxy[0], head)  # HTTP/1.0: closed after the answer
    assert answer.startswith(b"HTTP/1.1 %d " % status), answer[:80]


@pytest.mark.parametrize("http", SERVERS)
async def test_private_answers_never_reach_another_user(http: str) -> None:
    origin = CountingOrigin()
    with serve(origin) as upstream:
        proxy = CachingProxy(upstream, HttpCache(MemoryBackend(), HttpPolicy()), timeout=5)
        with serve(proxy, http=http) as url:
            async with httpx.AsyncClient(base_url=url) as client:
                alice = await client.get("/user", headers={"authorization": "Bearer alice"})
                anonymous = await client.get("/user")
                cookie = await client.get("/cookie")
                other = await client.get("/cookie")
        await proxy.aclose()
    assert b"alice" in alice.content
    assert b"alice" not in anonymous.content
    assert cookie.headers["set-cookie"] == "session=alice"
    assert other.content != cookie.content  # the origin answered again: nothing was stored
