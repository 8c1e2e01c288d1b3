"""Everything a protocol layer needs to run its requests through the state machine.

Placeholder face; filled in by the engine change.
"""
