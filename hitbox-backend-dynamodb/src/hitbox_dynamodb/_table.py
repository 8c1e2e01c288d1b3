"""Creating the cache table and enabling TTL on it, idempotently.

Used by ``hitbox dynamodb create-table`` and by the backend when ``create_table=true``.
Running it against an existing, correctly shaped table changes nothing. Servers without
the TTL API (dynalite, some emulators) get a table without TTL: the backend still works
because every read checks expiry itself; only the clean-up of expired items is missing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Final, Literal, final

import hitbox
from botocore.exceptions import ClientError

from hitbox_dynamodb._errors import error_code
from hitbox_dynamodb._items import EXPIRES_AT, PK

__all__ = ["TableSetup", "TtlStatus", "create_table"]

logger = logging.getLogger("hitbox_dynamodb")

TtlStatus = Literal["enabled", "already-enabled", "other-attribute", "unsupported"]
"""What happened to TTL: turned on now, was on, is on for another attribute, no TTL API."""

# Error codes of servers that do not implement the TTL API at all.
_NO_TTL_API: Final = frozenset(
    {"UnknownOperationException", "InvalidAction", "UnrecognizedClientException"}
)


@final
@dataclass(frozen=True, slots=True)
class TableSetup:
    """The outcome of :func:`create_table`."""

    table: str
    created: bool
    """True if this call created the table; False if it existed already."""
    ttl: TtlStatus
    ttl_attribute: str | None = None
    """The attribute TTL is enabled on (None when the server has no TTL API)."""

    def describe(self) -> str:
        """One human-readable line, as the CLI prints it."""
        made = "created" if self.created else "already exists"
        ttl = {
            "enabled": f"TTL enabled on {EXPIRES_AT!r}",
            "already-enabled": f"TTL already enabled on {EXPIRES_AT!r}",
            "other-attribute": (
                f"WARNING: TTL is enabled on {self.ttl_attribute!r}, not {EXPIRES_AT!r}: "
                f"expired entries are never deleted (reads still ignore them)"
            ),
            "unsupported": (
                "TTL API not supported by this server: expired entries stay until "
                "overwritten (reads still ignore them)"
            ),
        }[self.ttl]
        return f"table {self.table!r} {made}; {ttl}"


async def create_table(
    client: Any,
    table: str,
    *,
    wait_timeout: float = 60.0,
    poll_interval: float = 0.25,
) -> TableSetup:
    """Create ``table`` (on-demand billing, partition key ``pk``) and enable TTL on it.

    ``client`` is an aiobotocore DynamoDB client. Safe to run concurrently and repeatedly:
    an existing table is checked for the expected key schema, then waited on until
    ACTIVE (at most ``wait_timeout`` seconds). Raises :class:`hitbox.ConfigError` if the
    table exists with another key schema, ``TimeoutError`` if it never becomes active, and
    the client's errors otherwise.
    """
    created = False
    try:
        await client.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": PK, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": PK, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        created = True
        logger.info("created DynamoDB table %r", table)
    except ClientError as exc:
        if error_code(exc) != "ResourceInUseException":
            raise
    description = await _wait_until_active(client, table, wait_timeout, poll_interval)
    _check_key_schema(table, description)
    ttl, attribute = await _enable_ttl(client, table)
    return TableSetup(table, created, ttl, attribute)


async def _wait_until_active(
    client: Any, table: str, wait_timeout: float, poll_interval: float
) -> dict[str, Any]:
    deadline = time.monotonic() + wait_timeout
    while True:
        response = await client.describe_table(TableName=table)
        description: dict[str, Any] = response["Table"]
        status = description.get("TableStatus")
        if status == "ACTIVE":
            return description
        if status == "DELETING":
            raise hitbox.BackendError(f"table {table!r} is being deleted; try again later")
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"table {table!r} is still {status} after {wait_timeout:g}s; run the "
                f"command again later"
            )
        await asyncio.sleep(poll_interval)


def _check_key_schema(table: str, description: dict[str, Any]) -> None:
    schema = description.get("KeySchema", [])
    types = {
        d["AttributeName"]: d["AttributeType"] for d in description.get("AttributeDefinitions", [])
    }
    expected = [{"AttributeName": PK, "KeyType": "HASH"}]
    if schema != expected or types.get(PK) != "S":
        shown = ", ".join(f"{k['AttributeName']} ({k['KeyType']})" for k in schema)
        raise hitbox.ConfigError(
            f"table {table!r} exists with key schema [{shown}]; the cache needs a table whose "
            f"only key is the string partition key {PK!r}: choose another table name",
            field="table",
            value=table,
        )


async def _enable_ttl(client: Any, table: str) -> tuple[TtlStatus, str | None]:
    try:
        response = await client.describe_time_to_live(TableName=table)
    except ClientError as exc:
        if error_code(exc) in _NO_TTL_API:
            logger.warning("server has no TTL API; table %r keeps expired items", table)
            return "unsupported", None
        raise
    spec = response.get("TimeToLiveDescription", {})
    status, attribute = spec.get("TimeToLiveStatus"), spec.get("AttributeName")
    if status in ("ENABLED", "ENABLING"):
        if attribute == EXPIRES_AT:
            return "already-enabled", attribute
        logger.warning("table %r has TTL on %r, not %r", table, attribute, EXPIRES_AT)
        return "other-attribute", attribute
    try:
        await client.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": EXPIRES_AT},
        )
    except ClientError as exc:
        if error_code(exc) in _NO_TTL_API:
            return "unsupported", None
        raise
    return "enabled", EXPIRES_AT
