"""Hitbox: a platform for building caching systems.

The public API lives here; backends and plugins import only names exported from this
module (never private ``hitbox._*`` modules), exactly as a third-party plugin would.
"""

from hitbox._clock import Clock, ManualClock, SystemClock
from hitbox._decorator import CachedFunction
from hitbox._durations import Duration, parse_duration
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
from hitbox._logging import RateLimitedLogger
from hitbox._request import CacheableRequest
from hitbox._switch import caching_enabled, disable, disabled, enable, enabled
from hitbox._sync_call import SyncCachedFunction
from hitbox.backend._config import BackendConfig
from hitbox.backend._contract import (
    Backend,
    BatchBackend,
    Healthcheck,
    Invalidation,
    InvalidationBus,
    LockingBackend,
)
from hitbox.backend._events import BackendEvent, emit_backend_event
from hitbox.backend._value import NO_VALUE, CachedValue
from hitbox.cache import Cache
from hitbox.codec import Codec, EnvelopeCodec
from hitbox.engine._counters import Stats
from hitbox.engine._events import CacheEvent
from hitbox.fsm import InvalidTransition, State
from hitbox.keys import DefaultKeyStrategy, KeyStrategy
from hitbox.plugins import hookimpl
from hitbox.policy import Policy
from hitbox.serializers import Serializer

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "BackendConfig",
    "BackendError",
    "BackendEvent",
    "BatchBackend",
    "Cache",
    "CacheEvent",
    "CacheableRequest",
    "CachedFunction",
    "CachedValue",
    "Clock",
    "Codec",
    "ConfigError",
    "CorruptEntry",
    "DefaultKeyStrategy",
    "Duration",
    "EnvelopeCodec",
    "Healthcheck",
    "HitboxError",
    "InvalidTransition",
    "Invalidation",
    "InvalidationBus",
    "KeyStrategy",
    "KeyStrategyError",
    "LockingBackend",
    "ManualClock",
    "NO_VALUE",
    "PluginError",
    "Policy",
    "RateLimitedLogger",
    "SerializationError",
    "Serializer",
    "State",
    "Stats",
    "SyncCachedFunction",
    "SystemClock",
    "UnknownPluginError",
    "__version__",
    "caching_enabled",
    "disable",
    "disabled",
    "emit_backend_event",
    "enable",
    "enabled",
    "hookimpl",
    "parse_duration",
]
