"""Hitbox: a platform for building caching systems.

The public API lives here; backends and plugins import only names exported from this
module (never private ``hitbox._*`` modules), exactly as a third-party plugin would.
"""

from hitbox._backend import (
    Backend,
    BatchBackend,
    Healthcheck,
    Invalidation,
    InvalidationBus,
    LockingBackend,
)
from hitbox._config_base import BackendConfig
from hitbox._errors import (
    BackendError,
    ConfigError,
    CorruptEntry,
    HitboxError,
    KeyStrategyError,
    PluginError,
    SerializationError,
    UnknownPluginError,
)
from hitbox._events import CacheEvent
from hitbox._request import CacheableRequest
from hitbox._value import NO_VALUE, CachedValue
from hitbox.fsm import State
from hitbox.keys import KeyStrategy
from hitbox.plugins import hookimpl
from hitbox.policy import Policy
from hitbox.serializers import Serializer

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "BackendConfig",
    "BackendError",
    "BatchBackend",
    "CacheEvent",
    "CacheableRequest",
    "CachedValue",
    "ConfigError",
    "CorruptEntry",
    "Healthcheck",
    "HitboxError",
    "Invalidation",
    "InvalidationBus",
    "KeyStrategy",
    "KeyStrategyError",
    "LockingBackend",
    "NO_VALUE",
    "PluginError",
    "Policy",
    "SerializationError",
    "Serializer",
    "State",
    "UnknownPluginError",
    "__version__",
    "hookimpl",
]
