"""A Django view whose product lookups are cached by Hitbox.

In a project, build the cache once (``myproject/cache.py``) and import it in views::

    CACHE = hitbox.Cache.from_url(settings.HITBOX_URL)
"""

from __future__ import annotations

import dataclasses

import hitbox
from django.http import Http404, HttpRequest, JsonResponse

from examples.sync_web.catalog import Catalog, Product

CACHE = hitbox.Cache.from_url("memory://?max_entries=10000", policy={"ttl": 60})
CATALOG = Catalog()


@CACHE.cached(key="product:{product_id}", tags=["product:{product_id}"])
def load_product(product_id: int) -> Product | None:
    return CATALOG.find(product_id)


def product(request: HttpRequest, product_id: int) -> JsonResponse:
    """``GET /products/<id>``: the product as JSON, from the cache when it is there."""
    found = load_product(product_id)
    if found is None:
        raise Http404("no such product")
    return JsonResponse(dataclasses.asdict(found))
