"""``hitbox dynamodb ...`` commands, added to the ``hitbox`` CLI by the plugin.

``hitbox dynamodb create-table TABLE`` creates the cache table (on-demand billing,
partition key ``pk``) and enables TTL on ``expires_at``; running it again changes nothing.
TABLE is a table name or a ``dynamodb://TABLE?region=...&endpoint_url=...`` URL.
"""

from __future__ import annotations

import asyncio
from typing import Any

import click
import hitbox

from hitbox_dynamodb._config import DynamoDBConfig

__all__ = ["dynamodb_group"]


def _config_from(target: str, overrides: dict[str, Any]) -> DynamoDBConfig:
    """Validate the command's input; bad input is a one-line usage error (exit code 2)."""
    try:
        if "://" in target:
            if not target.startswith("dynamodb://"):
                raise click.BadParameter(
                    f"expected a table name or a dynamodb:// URL, got {target!r}",
                    param_hint="TABLE",
                )
            return DynamoDBConfig.from_url(target, **overrides)
        return DynamoDBConfig.validated({"table": target, **overrides})
    except hitbox.ConfigError as exc:
        raise click.UsageError(str(exc)) from None


async def _create(config: DynamoDBConfig, wait_timeout: float) -> str:
    from hitbox_dynamodb._backend import open_client
    from hitbox_dynamodb._table import create_table

    async with open_client(config) as client:
        setup = await create_table(client, config.table, wait_timeout=wait_timeout)
    return setup.describe()


def _one_line(exc: BaseException) -> str:
    from botocore.exceptions import NoCredentialsError, NoRegionError

    if isinstance(exc, NoRegionError):
        return "no AWS region configured: pass --region or set AWS_DEFAULT_REGION"
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials found: configure them (environment, profile or role)"
    return " ".join(str(exc).split()) or type(exc).__name__


@click.group("dynamodb")
def dynamodb_group() -> None:
    """DynamoDB backend tools (hitbox-backend-dynamodb)."""


@dynamodb_group.command("create-table")
@click.argument("table")
@click.option("--region", default=None, help="AWS region (default: the AWS config chain).")
@click.option("--endpoint-url", default=None, help="Endpoint override, e.g. an emulator.")
@click.option("--profile", default=None, help="Named profile from the AWS config files.")
@click.option(
    "--wait-timeout",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds to wait for the table to become active.",
)
def create_table_command(
    table: str,
    region: str | None,
    endpoint_url: str | None,
    profile: str | None,
    wait_timeout: float,
) -> None:
    """Create TABLE for the cache and enable TTL on it (idempotent).

    TABLE is a table name or a dynamodb://TABLE?region=...&endpoint_url=... URL; options
    override the URL's parameters.
    """
    overrides = {
        name: value
        for name, value in (
            ("region", region),
            ("endpoint_url", endpoint_url),
            ("profile", profile),
        )
        if value is not None
    }
    config = _config_from(table, overrides)
    try:
        line = asyncio.run(_create(config, wait_timeout))
    except hitbox.ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    except Exception as exc:
        raise click.ClickException(
            f"cannot create table {config.table!r}: {_one_line(exc)}"
        ) from None
    click.echo(line)
