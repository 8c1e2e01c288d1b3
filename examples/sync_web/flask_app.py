"""A Flask app whose product pages are cached by Hitbox.

Run it with ``flask --app examples.sync_web.flask_app run``; set ``HITBOX_URL`` to
``redis://localhost:6379/0`` to share the cache between workers.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import hitbox
from flask import Flask, abort

from examples.sync_web.catalog import Catalog, Product


def create_app(cache: hitbox.Cache, catalog: Catalog) -> Flask:
    """The app: ``GET /products/<id>`` (cached), ``POST /products/<id>/price`` (invalidates)."""
    app = Flask(__name__)

    # A plain def function: the same decorator, key templates and options as async code.
    @cache.cached(key="product:{product_id}", tags=["product:{product_id}"], ttl=60)
    def load_product(product_id: int) -> Product | None:
        return catalog.find(product_id)

    @app.get("/products/<int:product_id>")
    def product(product_id: int) -> dict[str, Any]:
        found = load_product(product_id)
        if found is None:
            abort(404)
        return dataclasses.asdict(found)

    @app.post("/products/<int:product_id>/price/<float:price>")
    def set_price(product_id: int, price: float) -> dict[str, Any]:
        catalog.products[product_id].price = price
        cache.invalidate_tags_sync(f"product:{product_id}")  # every process sees it
        return {"ok": True}

    return app


if __name__ == "__main__" or os.environ.get("FLASK_RUN_FROM_CLI"):
    app = create_app(
        hitbox.Cache.from_url(os.environ.get("HITBOX_URL", "memory://?max_entries=10000")),
        Catalog(),
    )
