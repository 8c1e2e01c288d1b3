"""Entry-point plugin of hitbox-backend-dynamodb: the ``dynamodb`` backend and its CLI.

Importing this module is cheap: aiobotocore is imported only when a backend is built or a
command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import hitbox

from hitbox_dynamodb._config import DynamoDBConfig

if TYPE_CHECKING:
    import click
    from hitbox.plugins import BackendRegistry


def _build(config: DynamoDBConfig) -> hitbox.Backend:
    from hitbox_dynamodb._backend import DynamoDBBackend

    return DynamoDBBackend(config)


@hitbox.hookimpl
def hitbox_register_backends(registry: BackendRegistry) -> None:
    """Register the ``dynamodb`` backend (URL scheme ``dynamodb://TABLE``)."""
    registry.add(
        "dynamodb",
        _build,
        config=DynamoDBConfig,
        schemes=DynamoDBConfig.schemes,
        description="Amazon DynamoDB table (aiobotocore); for serverless deployments on AWS",
    )


@hitbox.hookimpl
def hitbox_add_commands(cli: click.Group) -> None:
    """Add ``hitbox dynamodb create-table``."""
    from hitbox_dynamodb.cli import dynamodb_group

    cli.add_command(dynamodb_group)
