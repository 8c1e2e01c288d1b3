"""RFC 9111 §4.4 invalidation, and the byte format of stored entries."""

from __future__ import annotations

import hitbox
import pytest
from hitbox_http import Headers, StoredResponse
from hitbox_http._record import Variant, VariantIndex, decode_entry, encode_index, encode_response
from hitbox_http._validation import invalidated_urls

from tests.http.helpers import URL, World, get, ok


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "PURGE-ISH"])
def test_unsafe_methods_invalidate_the_target_uri_on_non_error_status(method: str) -> None:
    world = World()
    world.fetch(get(), lambda _: ok(("cache-control", "max-age=60"), clock=world.clock))
    world.fetch(get(method=method), lambda _: ok(status=500))
    assert world.stored(), "an error status must not invalidate"
    world.fetch(get(method=method), lambda _: ok(status=204))
    assert not world.stored()


def test_safe_methods_do_not_invalidate() -> None:
    for method in ("GET", "HEAD", "OPTIONS", "TRACE"):
        assert invalidated_urls(get(method=method), 200, Headers()) == ()


def test_location_and_content_location_are_invalidated_only_on_the_same_origin() -> None:
    response = Headers(
        [("location", "/items/1"), ("content-location", "https://evil.example/items")]
    )
    assert invalidated_urls(get("https://example.com/items", method="POST"), 201, response) == (
        "https://example.com/items",
        "https://example.com/items/1",
    )
    same = Headers([("content-location", "HTTPS://EXAMPLE.COM:443/other")])
    assert invalidated_urls(get("https://example.com/x", method="PUT"), 200, same) == (
        "https://example.com/x",
        "https://example.com/other",
    )
    other_port = Headers([("location", "https://example.com:8443/x")])
    assert invalidated_urls(get("https://example.com/y", method="DELETE"), 303, other_port) == (
        "https://example.com/y",
    )
    broken = Headers([("location", "http://[bad")])
    assert invalidated_urls(get("https://example.com/y", method="POST"), 200, broken) == (
        "https://example.com/y",
    )


def test_response_record_round_trips() -> None:
    stored = StoredResponse(
        203,
        Headers(
            [
                ("content-type", "text/plain; charset=latin-1"),
                ("x-bytes", "caf\xe9"),
                ("set-cookie", "a"),
                ("set-cookie", "b"),
            ]
        ),
        b"\x00\xffbody",
        1.5,
        2.25,
        URL,
        (("accept-encoding", "br,gzip"), ("cookie", None), ("x-empty", "")),
    )
    decoded = decode_entry(encode_response(stored))
    assert decoded == stored


def test_variant_index_round_trips() -> None:
    index = VariantIndex((Variant("k#v:1", ("accept",), 3.0), Variant("k#v:2", (), 1.0)))
    assert decode_entry(encode_index(index)) == index


@pytest.mark.parametrize("cut", [0, 3, 4, 10, 25, -1])
def test_truncated_or_garbled_entries_raise_corrupt_entry(cut: int) -> None:
    data = encode_response(StoredResponse(200, Headers([("a", "b")]), b"xyz", 1.0, 2.0, URL))
    with pytest.raises(hitbox.CorruptEntry):
        decode_entry(data[:cut])
    with pytest.raises(hitbox.CorruptEntry):
        decode_entry(data + b"x")
    with pytest.raises(hitbox.CorruptEntry):
        decode_entry(b"HXV1\x00\x05")
    with pytest.raises(hitbox.CorruptEntry):
        decode_entry(b"garbage!")
