"""Hitbox redis backend (work in progress: registers nothing until it works)."""
