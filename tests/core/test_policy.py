"""Policy: defaults, validation with one-line errors, per-call overrides."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hitbox import ConfigError, Policy
from hitbox.policy import DEFAULT_BACKEND_TIMEOUT
from pydantic import ValidationError


def test_defaults() -> None:
    policy = Policy()
    assert (policy.ttl, policy.max_stale, policy.stale_if_error) == (60.0, 0.0, 0.0)
    assert policy.lock == "local"
    assert policy.lock_timeout == 5.0
    assert policy.backend_timeout == DEFAULT_BACKEND_TIMEOUT == 0.25
    assert (policy.failure_threshold, policy.cooldown) == (5, 1.0)
    assert policy.cache_none is False
    assert policy.cacheable is None
    assert policy.lifetime == 60.0


def test_lifetime_covers_all_windows() -> None:
    assert Policy(ttl=10, max_stale=5, stale_if_error=20).lifetime == 35.0


def test_timedelta_is_accepted_as_seconds() -> None:
    policy = Policy(ttl=timedelta(minutes=2), cooldown=timedelta(milliseconds=500))
    assert policy.ttl == 120.0
    assert policy.cooldown == 0.5


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ttl", 0),
        ("ttl", -1),
        ("max_stale", -0.1),
        ("stale_if_error", -5),
        ("lock", "global"),
        ("lock_timeout", 0),
        ("backend_timeout", -1),
        ("failure_threshold", 0),
        ("cooldown", 0),
    ],
)
def test_invalid_values_are_rejected(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"^policy\\.{field}: ") as direct:
        Policy(**{field: value})
    assert "\n" not in str(direct.value)
    assert isinstance(direct.value, ValueError)  # what pydantic raised before, still caught
    with pytest.raises(ConfigError) as info:
        Policy.validated({field: value})
    assert info.value.field == f"policy.{field}"
    assert info.value.value == value
    message = str(info.value)
    assert "\n" not in message
    assert f"policy.{field}" in message
    assert repr(value) in message


def test_unknown_field_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"policy\.tll: unknown setting") as info:
        Policy().merged(tll=5)
    assert info.value.field == "policy.tll"


def test_frozen() -> None:
    policy = Policy()
    with pytest.raises(ValidationError):
        policy.ttl = 5  # type: ignore[misc]


def test_merged_returns_a_new_validated_policy() -> None:
    base = Policy(ttl=60, max_stale=30)
    merged = base.merged(ttl=5, lock="none")
    assert (merged.ttl, merged.max_stale, merged.lock) == (5.0, 30.0, "none")
    assert base.ttl == 60.0
    assert base.merged() is base
    assert base.merged(ttl=None, lock=None) is base  # None means "inherit"
    with pytest.raises(ConfigError, match=r"policy\.ttl"):
        base.merged(ttl=-3)


def test_cacheable_predicate_is_kept_but_not_serialized() -> None:
    def positive(value: object) -> bool:
        return isinstance(value, int) and value > 0

    policy = Policy(cacheable=positive)
    assert policy.cacheable is positive
    assert policy.merged(ttl=1).cacheable is positive
    assert "cacheable" not in policy.model_dump()
    assert "cacheable" not in policy.model_dump_json()
    with pytest.raises(ConfigError, match=r"policy\.cacheable"):
        Policy(cacheable="not callable")  # type: ignore[arg-type]


def test_round_trip_through_a_mapping() -> None:
    policy = Policy(ttl=1, max_stale=2, stale_if_error=3, lock="distributed")
    assert Policy.validated(policy.model_dump()) == policy
