"""``hitbox dynamodb create-table`` and the plugin's registrations."""

from __future__ import annotations

import asyncio
import uuid

import click
import pytest
from click.testing import CliRunner
from hitbox.cli import build_cli
from hitbox.plugins import PluginManager
from hitbox_dynamodb import DynamoDBBackend, DynamoDBConfig, plugin

from tests.dynamodb.conftest import PATIENT, REGION
from tests.support import free_port

pytestmark = pytest.mark.services  # moto / dynalite servers started by the fixtures


def new_table() -> str:
    return f"cli-{uuid.uuid4().hex[:12]}"


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(build_cli(), ["dynamodb", "create-table", *args])


def test_create_table_then_again_is_idempotent(moto_endpoint: str) -> None:
    table = new_table()
    first = run(table, "--endpoint-url", moto_endpoint, "--region", REGION)
    assert first.exit_code == 0, first.output
    assert first.output == f"table {table!r} created; TTL enabled on 'expires_at'\n"
    second = run(f"dynamodb://{table}?endpoint_url={moto_endpoint}&region={REGION}")
    assert second.exit_code == 0, second.output
    assert second.output == f"table {table!r} already exists; TTL already enabled on 'expires_at'\n"


def test_create_table_on_a_server_without_ttl_api(dynalite_endpoint: str) -> None:
    table = new_table()
    result = run(table, "--endpoint-url", dynalite_endpoint, "--region", REGION)
    assert result.exit_code == 0, result.output
    assert f"table {table!r} created" in result.output
    assert "TTL API not supported by this server" in result.output
    again = run(table, "--endpoint-url", dynalite_endpoint, "--region", REGION)
    assert again.exit_code == 0, again.output
    assert "already exists" in again.output


def test_created_table_serves_a_backend(moto_endpoint: str) -> None:
    table = new_table()
    assert run(table, "--endpoint-url", moto_endpoint).exit_code == 0

    async def use() -> bool:
        backend = DynamoDBBackend(table=table, endpoint_url=moto_endpoint, **PATIENT)
        try:
            return await backend.ping()
        finally:
            await backend.aclose()

    assert asyncio.run(use()) is True


def test_existing_table_with_another_key_schema_is_refused(moto_endpoint: str) -> None:
    table = new_table()

    async def make_foreign_table() -> None:
        from hitbox_dynamodb._backend import open_client

        config = DynamoDBConfig(table=table, endpoint_url=moto_endpoint, **PATIENT)
        async with open_client(config) as client:
            await client.create_table(
                TableName=table,
                AttributeDefinitions=[
                    {"AttributeName": "id", "AttributeType": "S"},
                    {"AttributeName": "sort", "AttributeType": "N"},
                ],
                KeySchema=[
                    {"AttributeName": "id", "KeyType": "HASH"},
                    {"AttributeName": "sort", "KeyType": "RANGE"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )

    asyncio.run(make_foreign_table())
    result = run(table, "--endpoint-url", moto_endpoint)
    assert result.exit_code == 2
    assert "key schema [id (HASH), sort (RANGE)]" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["x"],
            "table: not a DynamoDB table name: use 3-255 letters, digits, '_', '-' or '.' "
            "(got 'x')",
        ),
        (["bad name!"], "table: not a DynamoDB table name"),
        (
            ["cache", "--endpoint-url", "localhost:8000"],
            "endpoint_url: expected http://HOST:PORT or https://HOST (got 'localhost:8000')",
        ),
        (["redis://cache"], "expected a table name or a dynamodb:// URL"),
        (["dynamodb://cache?max_attempts=0"], "max_attempts:"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(args: list[str], expected: str) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output


def test_unreachable_endpoint_is_one_line_with_exit_code_1() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    result = run("cache", "--endpoint-url", endpoint)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: cannot create table 'cache': Could not connect")


def test_plugin_registers_backend_scheme_and_command() -> None:
    manager = PluginManager(load_entry_points=False)
    manager.register(plugin, "dynamodb")
    spec = manager.backends.get("dynamodb")
    assert spec.schemes == ("dynamodb",)
    assert spec.config is DynamoDBConfig
    assert manager.backends.for_scheme("dynamodb") is spec
    backend = spec.factory(DynamoDBConfig.from_url("dynamodb://Cache?region=eu-west-1"))
    assert isinstance(backend, DynamoDBBackend)
    assert backend.table == "Cache"
    group = click.Group("hitbox")
    manager.hook.hitbox_add_commands(cli=group)
    dynamodb = group.commands["dynamodb"]
    assert isinstance(dynamodb, click.Group)
    assert "create-table" in dynamodb.commands


def test_plugin_module_does_not_import_botocore() -> None:
    import subprocess
    import sys

    code = (
        "import sys, hitbox_dynamodb.plugin; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('botocore', 'aiobotocore')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
