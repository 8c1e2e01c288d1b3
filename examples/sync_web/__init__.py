"""Sync web apps on a Hitbox cache: a Flask app and a Django view (see ``docs/sync.md``)."""
