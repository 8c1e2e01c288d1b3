"""The configuration reference page is generated from the models and kept current."""

from __future__ import annotations

from pathlib import Path

from hitbox._reference import render_configuration_reference

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "configuration.md"


def test_reference_page_matches_the_models() -> None:
    expected = render_configuration_reference()
    assert PAGE.read_text() == expected, (
        "docs/reference/configuration.md is stale: regenerate it with "
        "`uv run python -m hitbox._reference > docs/reference/configuration.md`"
    )


def test_every_backend_and_policy_field_is_documented() -> None:
    page = render_configuration_reference()
    for field in ("ttl", "max_stale", "stale_if_error", "lock_timeout", "backend_timeout"):
        assert f"| `{field}` |" in page
    for backend in ("memory", "redis", "sqlite", "memcached", "dynamodb", "tiered"):
        assert f"## Backend `{backend}`" in page
