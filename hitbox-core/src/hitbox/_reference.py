"""Render the configuration reference (Markdown) from the pydantic models themselves.

The page ``docs/reference/configuration.md`` is this module's output; a test keeps it in
step with the models, so the reference cannot drift from the code. Field descriptions
come from ``Field(description=...)`` or, failing that, the attribute docstring written
under the field (the house style).
"""

from __future__ import annotations

import ast
import inspect
import itertools
import textwrap
import typing
from collections.abc import Iterable
from types import UnionType
from typing import Any, Union

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from hitbox._durations import to_seconds
from hitbox.config import CacheConfig
from hitbox.plugins import PluginManager
from hitbox.policy import Policy

__all__ = ["render_configuration_reference"]


def _attribute_docstrings(model: type[BaseModel]) -> dict[str, str]:
    docs: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, BaseModel)) or klass is BaseModel:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, following in itertools.pairwise(body):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[node.target.id] = inspect.cleandoc(following.value.value)
    return docs


def _is_duration(metadata: Iterable[Any]) -> bool:
    return any(getattr(item, "func", None) is to_seconds for item in metadata)


def _member_name(member: Any) -> str:
    if _is_duration(getattr(member, "__metadata__", ())):
        return "duration"
    return "None" if member is type(None) else _type_name(member)


def _field_type(field: FieldInfo) -> str:
    """The field's type as a reader wants it: ``duration`` for :data:`hitbox.Duration`."""
    if _is_duration(field.metadata):
        return "duration"
    members = typing.get_args(field.annotation)
    if typing.get_origin(field.annotation) in (Union, UnionType) and any(
        _is_duration(getattr(member, "__metadata__", ())) for member in members
    ):
        return " or ".join(_member_name(member) for member in members)
    return _type_name(field.annotation)


def _type_name(annotation: Any) -> str:
    text = annotation.__name__ if isinstance(annotation, type) else repr(annotation)
    for prefix in ("typing.", "collections.abc.", "pydantic.types.", "pathlib."):
        text = text.replace(prefix, "")
    return text.replace("|", "or")


def _default(field: Any) -> str:
    if field.default is PydanticUndefined:
        return "required" if field.default_factory is None else "(computed)"
    if field.default is None:
        return "none"
    return f"`{field.default!r}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _model_table(model: type[BaseModel]) -> list[str]:
    docs = _attribute_docstrings(model)
    lines = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        meaning = field.description or docs.get(name, "")
        lines.append(
            f"| `{name}` | {_cell(_field_type(field))} | {_cell(_default(field))} "
            f"| {_cell(meaning)} |"
        )
    return lines


def render_configuration_reference(plugins: PluginManager | None = None) -> str:
    """The Markdown reference of every configuration model installed."""
    plugins = plugins or PluginManager(disabled=())
    out = [
        "# Configuration reference",
        "",
        "Generated from the pydantic models by `python -m hitbox._reference`; a test fails",
        "when this page and the models disagree. See [Configuration](../configuration.md)",
        "for how the pieces fit together.",
        "",
        "A *duration* is seconds (`30`, `1.5`) or a string with units `ms`, `s`, `m`, `h`,",
        '`d`, `w` (`"90s"`, `"5m"`, `"1h30m"`, `"1d"`, `"250ms"`); in code, a',
        "`datetime.timedelta` too.",
        "",
        "## Top level",
        "",
        *_model_table(CacheConfig),
        "",
        "## `[policy]` — `hitbox.Policy`",
        "",
        *_model_table(Policy),
        "",
        "`cacheable` (a predicate on results) can only be given in code.",
    ]
    for spec in plugins.backends.specs():
        schemes = ", ".join(f"`{scheme}://`" for scheme in spec.schemes) or "none"
        origin = spec.origin.distribution or spec.origin.plugin
        out += [
            "",
            f"## Backend `{spec.name}` — `{spec.config.__name__}`",
            "",
            f"From `{origin}`. URL schemes: {schemes}. {_cell(spec.description)}",
            "",
            *_model_table(spec.config),
        ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render_configuration_reference(), end="")
