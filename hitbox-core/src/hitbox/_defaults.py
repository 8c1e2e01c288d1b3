"""The defaults of the backend guard, one set for every cache, HTTP store and tier.

They sit in a module that imports nothing of Hitbox, so :mod:`hitbox.policy` (which
offers them as :class:`~hitbox.policy.Policy` defaults) and :mod:`hitbox.engine` (whose
guard and breaker use them, and whose engine imports the policy) do not import each
other in a cycle.
"""

from typing import Final

__all__ = ["DEFAULT_BACKEND_TIMEOUT", "DEFAULT_FAILURE_THRESHOLD", "DEFAULT_PROBE_INTERVAL"]

DEFAULT_BACKEND_TIMEOUT: Final = 0.25
"""Seconds a remote backend operation may take before the cache gives up on it.

Chosen to cover a first request over a fresh TLS connection to a cloud store (tens to a
couple of hundred milliseconds) while keeping the worst case of a hanging backend well
under a second. A timeout is not an error the caller sees: the upstream answers instead,
and the circuit breaker stops paying the timeout after ``failure_threshold`` failures.
In-process backends (``Backend.is_local``) get no timeout at all.
"""

DEFAULT_FAILURE_THRESHOLD: Final = 5
"""Consecutive failures (over at least two keys) that open a breaker."""

DEFAULT_PROBE_INTERVAL: Final = 1.0
"""Seconds between two probes of an open breaker's backend."""
