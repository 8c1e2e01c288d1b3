"""Hitbox HTTP layer (work in progress)."""
