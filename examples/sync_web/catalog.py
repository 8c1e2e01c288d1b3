"""The examples' slow source of truth: a product catalog standing in for a database."""

from __future__ import annotations

import dataclasses
import threading


@dataclasses.dataclass
class Product:
    id: int
    name: str
    price: float


class Catalog:
    """Products by id; ``lookups`` counts the (expensive) reads that reached it."""

    def __init__(self) -> None:
        self.products = {1: Product(1, "kettle", 39.0), 2: Product(2, "teapot", 25.5)}
        self.lookups = 0
        self._lock = threading.Lock()

    def find(self, product_id: int) -> Product | None:
        with self._lock:
            self.lookups += 1
        return self.products.get(product_id)
