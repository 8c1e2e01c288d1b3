"""Fuzzing the configuration parsers: any input ends in a value or a ConfigError, nothing else."""

from __future__ import annotations

from typing import Any

import hitbox
from hitbox.config import cache_kwargs, env_overrides
from hitbox.plugins import PluginManager
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_PLUGINS = PluginManager()

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.binary(max_size=8),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_urls = st.builds(
    lambda scheme, rest: f"{scheme}://{rest}",
    st.sampled_from(["memory", "example", "nosuch", "", "MEMORY", "memory+x"]),
    st.text(max_size=40),
)
_configs = st.fixed_dictionaries(
    {},
    optional={
        "backend": st.one_of(_urls, st.text(max_size=10), _values),
        "serializer": st.one_of(st.sampled_from(["cbor", "json", "nope"]), _values),
        "policy": st.one_of(
            st.dictionaries(
                st.sampled_from(["ttl", "max_stale", "lock", "bogus", "lock_timeout"]), _values
            ),
            _values,
        ),
        "namespace": _values,
        "signing_key": _values,
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_configs)
def test_any_config_is_accepted_or_refused_with_config_error(config: dict[str, Any]) -> None:
    error: hitbox.ConfigError | None = None
    try:
        cache_kwargs(config, _PLUGINS)
    except hitbox.ConfigError as exc:
        error = exc
    assert error is None or "\n" not in str(error)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=30), st.text(max_size=10), max_size=5))
def test_env_overrides_never_crash(environ: dict[str, str]) -> None:
    prefixed = {f"HITBOX_{name}": value for name, value in environ.items()}
    error: hitbox.ConfigError | None = None
    try:
        env_overrides(prefixed)
    except hitbox.ConfigError as exc:
        error = exc
    assert error is None or error.field is not None
