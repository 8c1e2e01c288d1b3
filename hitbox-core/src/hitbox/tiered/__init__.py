"""The ``tiered`` backend: L1/L2/... composed of other backends, selected by name.

The package's parts each own their state: ``_stack`` (the tiers and what they share: the
bus watcher, the read guard, tag times, negative caching, counters), ``_backend`` (the
single-key operations and the classes with optional capabilities), ``_batch`` (the
multi-key operations), ``_tier`` (one guarded tier), ``_bus`` (cross-instance
invalidation), ``_guard`` (read guards against stale refills) and ``_config`` (its
validated settings). No part reaches into another's private attributes.
"""

from hitbox.tiered._backend import (
    TieredBackend,
    TieredConfig,
    TieredStats,
    WritePolicy,
    create_tiered_backend,
)

__all__ = ["TieredBackend", "TieredConfig", "TieredStats", "WritePolicy", "create_tiered_backend"]
