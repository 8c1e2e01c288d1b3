"""Configuration of the DynamoDB backend: :class:`DynamoDBConfig`.

Selected by name (``{"name": "dynamodb", "table": "cache", "region": "eu-west-1"}``) or by
URL (``dynamodb://cache?region=eu-west-1&endpoint_url=http://127.0.0.1:8000``). Credentials
are never part of the configuration: they come from the normal AWS chain (environment,
shared files, ``profile``, instance or task role).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal
from urllib.parse import unquote, urlsplit

import hitbox
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

__all__ = ["DYNAMODB_MAX_ITEM_SIZE", "DynamoDBConfig"]

DYNAMODB_MAX_ITEM_SIZE = 400 * 1024
"""DynamoDB's hard limit on one item (attribute names plus values), in bytes."""

_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")


class DynamoDBConfig(hitbox.BackendConfig):
    """Settings of :class:`hitbox_dynamodb.DynamoDBBackend`.

    The defaults suit a cache: short timeouts and at most one quick retry, because a
    cache that waits seconds for a struggling table is worse than no cache (the core
    calls the upstream whenever the backend raises).
    """

    schemes: ClassVar[tuple[str, ...]] = ("dynamodb",)
    backend_name: ClassVar[str] = "dynamodb"
    blamed_field: ClassVar[str] = "table"

    table: str = Field(description="Name of the DynamoDB table holding the cache.")
    region: str | None = Field(
        default=None, description="AWS region; None uses the normal AWS configuration chain."
    )
    endpoint_url: str | None = Field(
        default=None,
        description="Endpoint override for emulators (moto, dynalite, DynamoDB Local).",
    )
    profile: str | None = Field(
        default=None, description="Named profile from the shared AWS config files."
    )
    create_table: bool = Field(
        default=False,
        description="Create the table (and enable TTL) on first use if it does not exist.",
    )
    consistent_read: bool = Field(
        default=False,
        description=(
            "Strongly consistent reads (twice the read cost). Eventually consistent reads "
            "may return an entry for about a second after it was overwritten or deleted."
        ),
    )
    connect_timeout: hitbox.Duration = Field(default=1.0, gt=0, le=60, description="Seconds.")
    read_timeout: hitbox.Duration = Field(default=2.0, gt=0, le=300, description="Seconds.")
    max_attempts: int = Field(
        default=2,
        ge=1,
        le=10,
        description="Total attempts per request (1 = no retry); retries back off from 50 ms.",
    )
    max_pool_connections: int = Field(default=64, ge=1, le=4096)
    compression: Literal["none", "zlib", "zstd"] = Field(
        default="zlib",
        description="Compress payloads larger than compress_threshold ('zstd' needs zstandard).",
    )
    compress_threshold: int = Field(
        default=8 * 1024, ge=0, description="Payloads at least this many bytes are compressed."
    )
    max_item_size: int = Field(
        default=DYNAMODB_MAX_ITEM_SIZE,
        ge=1024,
        le=DYNAMODB_MAX_ITEM_SIZE,
        description="Items estimated larger than this are not cached (logged as a warning).",
    )

    @field_validator("table")
    @classmethod
    def _check_table(cls, value: str) -> str:
        if not _TABLE_NAME.fullmatch(value):
            raise PydanticCustomError(
                "dynamodb_table_name",
                "not a DynamoDB table name: use 3-255 letters, digits, '_', '-' or '.'",
            )
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PydanticCustomError(
                "dynamodb_endpoint_url", "expected http://HOST:PORT or https://HOST"
            )
        return value

    @field_validator("compression")
    @classmethod
    def _check_compression(cls, value: str) -> str:
        if value == "zstd":
            try:
                import zstandard  # noqa: F401
            except ImportError:
                raise PydanticCustomError(
                    "dynamodb_zstd_missing",
                    "zstd needs the zstandard package: "
                    "pip install 'hitbox-backend-dynamodb[zstd]', or use 'zlib'",
                ) from None
        return value

    @classmethod
    def url_fields(cls, url: str) -> dict[str, Any]:
        """The table from the URL's host part (case kept), plus the query parameters.

        ``dynamodb://cache?region=eu-west-1`` gives ``table="cache"``.
        """
        fields = super().url_fields(url)
        parts = urlsplit(url)
        # netloc, not hostname: hostname is lowercased but table names are case-sensitive.
        table = unquote(parts.netloc or parts.path.lstrip("/"))
        if table:
            fields["table"] = table
        return fields
