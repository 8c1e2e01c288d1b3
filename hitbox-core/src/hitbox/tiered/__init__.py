"""The ``tiered`` backend: L1/L2/... composed of other backends, selected by name.

The package's parts each own their state: ``_tier`` (one guarded tier), ``_batch`` (the
multi-key operations over tiers), ``_caps`` (the optional capabilities the composition
offers), ``_bus`` (cross-instance invalidation), ``_guard`` (read guards against stale
refills) and ``_config`` (its validated settings).
"""

from hitbox.tiered._backend import (
    TieredBackend,
    TieredConfig,
    TieredStats,
    WritePolicy,
    create_tiered_backend,
)

__all__ = ["TieredBackend", "TieredConfig", "TieredStats", "WritePolicy", "create_tiered_backend"]
