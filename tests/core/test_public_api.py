"""The public surface: a deliberate, sorted, documented ``__all__`` (httpx style)."""

from __future__ import annotations

import inspect

import hitbox
import pytest


def test_all_is_sorted_and_unique() -> None:
    assert list(hitbox.__all__) == sorted(set(hitbox.__all__))


def test_every_exported_name_exists_and_is_documented() -> None:
    for name in hitbox.__all__:
        obj = getattr(hitbox, name)
        if name.startswith("__") or not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        assert inspect.getdoc(obj), f"hitbox.{name} has no docstring"


def test_no_public_module_level_name_is_left_out() -> None:
    public = {
        name
        for name, obj in vars(hitbox).items()
        if not name.startswith("_") and not inspect.ismodule(obj)
    }
    assert public <= set(hitbox.__all__), (
        f"exported but not in __all__: {public - set(hitbox.__all__)}"
    )


@pytest.mark.parametrize("name", ["Backend", "CachedValue", "HitboxError", "CacheableRequest"])
def test_design_contract_names(name: str) -> None:
    assert name in hitbox.__all__


def test_errors_share_one_root() -> None:
    for name in hitbox.__all__:
        obj = getattr(hitbox, name)
        if inspect.isclass(obj) and issubclass(obj, Exception):
            assert issubclass(obj, hitbox.HitboxError), name
