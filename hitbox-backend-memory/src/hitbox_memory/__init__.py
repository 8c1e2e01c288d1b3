"""Hitbox memory backend (work in progress: registers nothing until it works)."""
