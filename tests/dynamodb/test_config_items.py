"""Configuration parsing and the sans-I/O item layout (no server needed)."""

from __future__ import annotations

import zlib

import hitbox
import pytest
from hitbox_dynamodb import DYNAMODB_MAX_ITEM_SIZE, DynamoDBConfig
from hitbox_dynamodb import _items as items
from pydantic import ValidationError

# -- configuration ----------------------------------------------------------------------


def test_url_gives_table_region_and_endpoint() -> None:
    config = DynamoDBConfig.from_url(
        "dynamodb://My.Cache-Table?region=eu-west-1&endpoint_url=http://127.0.0.1:8000"
        "&consistent_read=true&compression=none&max_attempts=1"
    )
    assert config.table == "My.Cache-Table"  # case kept: table names are case-sensitive
    assert config.region == "eu-west-1"
    assert config.endpoint_url == "http://127.0.0.1:8000"
    assert config.consistent_read is True
    assert config.compression == "none"
    assert config.max_attempts == 1


def test_url_overrides_win_and_defaults_suit_a_cache() -> None:
    config = DynamoDBConfig.from_url("dynamodb://cache?region=eu-west-1", region="us-west-2")
    assert config.region == "us-west-2"
    assert config.create_table is False
    assert config.read_timeout <= 2.0
    assert config.max_attempts == 2
    assert config.max_item_size == DYNAMODB_MAX_ITEM_SIZE
    assert config.endpoint_url is None


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"table": "ab"}, "table", "not a DynamoDB table name: use 3-255 letters"),
        ({"table": "has space"}, "table", "not a DynamoDB table name"),
        ({"table": "t" * 256}, "table", "not a DynamoDB table name"),
        ({"table": "cache", "endpoint_url": "ftp://x"}, "endpoint_url", "expected http://HOST"),
        ({"table": "cache", "max_item_size": 500_000}, "max_item_size", "less than or equal"),
        ({"table": "cache", "compression": "lz4"}, "compression", "'none', 'zlib' or 'zstd'"),
        ({"table": "cache", "read_timeout": 0}, "read_timeout", "greater than 0"),
        ({"table": "cache", "tabel": "typo"}, "tabel", "Extra inputs are not permitted"),
    ],
)
def test_bad_settings_name_the_field(fields: dict[str, object], field: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        DynamoDBConfig(**fields)  # type: ignore[arg-type]
    error = caught.value.errors()[0]
    assert error["loc"] == (field,)
    assert fragment in str(error["msg"])


def test_zstd_without_zstandard_is_a_clear_error() -> None:
    try:
        import zstandard  # noqa: F401
    except ImportError:
        with pytest.raises(ValidationError, match="needs the zstandard package"):
            DynamoDBConfig(table="cache", compression="zstd")
    else:
        assert DynamoDBConfig(table="cache", compression="zstd").compression == "zstd"


def test_empty_endpoint_means_none() -> None:
    assert DynamoDBConfig.from_url("dynamodb://cache?endpoint_url=").endpoint_url is None


# -- item layout ------------------------------------------------------------------------


def test_entry_and_lock_keys_never_collide() -> None:
    assert items.data_pk("a") == "v:a"
    assert items.lock_pk("a") == "l:a"
    assert items.data_pk("l:a") != items.lock_pk("a")
    long_key = "k" * 1025
    assert items.data_pk(long_key).startswith("vh:")
    assert items.lock_pk(long_key).startswith("lh:")
    assert len(items.data_pk(long_key)) == 3 + 64
    # A short key that looks like a hashed one stays in the plain namespace.
    assert items.data_pk("h:" + "0" * 64) != items.data_pk(long_key)
    assert items.data_pk("k" * 1024) == "v:" + "k" * 1024


def test_expiry_attributes_and_check() -> None:
    attributes = items.expiry_attributes(100.2501)
    assert attributes == {"expires_at": {"N": "101"}, "expires_at_ms": {"N": "100251"}}
    assert not items.is_expired(attributes, 100.25)
    assert items.is_expired(attributes, 100.251)
    assert not items.is_expired({}, 1e12)  # no expiry attribute: never expires
    assert items.is_expired({"expires_at": {"N": "5"}}, 5.0)


def test_size_estimate_counts_names_and_values() -> None:
    item = {
        "pk": {"S": "v:é"},  # 2 + 4 bytes
        "payload": {"B": b"x" * 100},  # 7 + 100
        "expires_at": {"N": "1700000000"},  # 10 + (10 digits -> 6)
    }
    assert items.estimate_item_size(item) == 2 + 4 + 7 + 100 + 10 + 6


def test_zlib_round_trip_and_bad_input() -> None:
    data = b"hello" * 1000
    assert items.decompress("zlib", items.compress("zlib", data)) == data
    with pytest.raises(hitbox.CorruptEntry, match="does not inflate"):
        items.decompress("zlib", b"not zlib at all")
    with pytest.raises(hitbox.CorruptEntry, match="truncated"):
        items.decompress("zlib", items.compress("zlib", data)[:-6])
    with pytest.raises(hitbox.CorruptEntry, match="unknown compression"):
        items.decompress("brotli", data)


def test_compression_bomb_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(items, "MAX_DECOMPRESSED_SIZE", 1024 * 1024)
    bomb = zlib.compress(b"\x00" * (8 * 1024 * 1024), 9)
    assert len(bomb) < 10_000
    with pytest.raises(hitbox.CorruptEntry, match="beyond"):
        items.decompress("zlib", bomb)


def test_payload_of_decompresses_by_the_item_attribute() -> None:
    packed = items.compress("zlib", b"abc" * 100)
    item = {"payload": {"B": packed}, "compression": {"S": "zlib"}}
    assert items.payload_of(item) == b"abc" * 100
    assert items.payload_of({"payload": {"B": b"raw"}}) == b"raw"


def test_zstd_round_trip_bomb_and_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    zstandard = pytest.importorskip("zstandard")
    data = b"zstd" * 10_000
    assert items.decompress("zstd", items.compress("zstd", data)) == data
    with pytest.raises(hitbox.CorruptEntry, match="does not inflate"):
        items.decompress("zstd", b"\x28\xb5\x2f\xfd garbage")
    monkeypatch.setattr(items, "MAX_DECOMPRESSED_SIZE", 1024 * 1024)
    zeros = b"\x00" * (8 * 1024 * 1024)
    with pytest.raises(hitbox.CorruptEntry, match="beyond the limit"):
        items.decompress("zstd", zstandard.ZstdCompressor().compress(zeros))
    # A frame that does not declare its size is bounded while inflating.
    unsized = zstandard.ZstdCompressor(write_content_size=False).compress(zeros)
    with pytest.raises(hitbox.CorruptEntry):
        items.decompress("zstd", unsized)
