"""Hitbox's own plugin: registers the built-in serializers and key strategies.

Loaded through the ``hitbox`` entry-point group like any third-party plugin.
"""
