"""Hitbox DynamoDB backend: a cache table for serverless deployments on AWS.

>>> from hitbox_dynamodb import DynamoDBBackend
>>> backend = DynamoDBBackend(table="cache", region="eu-west-1")  # no I/O until first use

Select it by name (``{"name": "dynamodb", "table": "cache"}``) or URL
(``dynamodb://cache?region=eu-west-1``). Create the table once with
``hitbox dynamodb create-table cache`` (or configure ``create_table=true``).

Names are imported lazily, so discovering the plugin does not import botocore.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hitbox_dynamodb._backend import Codec, DynamoDBBackend
    from hitbox_dynamodb._config import DYNAMODB_MAX_ITEM_SIZE, DynamoDBConfig
    from hitbox_dynamodb._table import TableSetup, TtlStatus, create_table

__all__ = [
    "DYNAMODB_MAX_ITEM_SIZE",
    "Codec",
    "DynamoDBBackend",
    "DynamoDBConfig",
    "TableSetup",
    "TtlStatus",
    "create_table",
]

_HOMES = {
    "DYNAMODB_MAX_ITEM_SIZE": "_config",
    "Codec": "_backend",
    "DynamoDBBackend": "_backend",
    "DynamoDBConfig": "_config",
    "TableSetup": "_table",
    "TtlStatus": "_table",
    "create_table": "_table",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
