"""The sync web examples of ``docs/sync.md``: a Flask app (its test client) and a Django
view (``RequestFactory``), each over a real cache."""

from __future__ import annotations

import threading

import hitbox
import pytest
from hitbox_memory import MemoryBackend

from examples.sync_web.catalog import Catalog


def test_flask_app_serves_cached_pages_and_invalidates_by_tag() -> None:
    from examples.sync_web.flask_app import create_app

    catalog = Catalog()
    cache = hitbox.Cache(MemoryBackend())
    client = create_app(cache, catalog).test_client()
    first = client.get("/products/1")
    second = client.get("/products/1")
    assert first.status_code == second.status_code == 200
    assert first.get_json() == second.get_json() == {"id": 1, "name": "kettle", "price": 39.0}
    assert catalog.lookups == 1
    assert client.post("/products/1/price/41.5").status_code == 200
    assert client.get("/products/1").get_json()["price"] == 41.5
    assert catalog.lookups == 2
    assert client.get("/products/9").status_code == 404
    cache.close()


def test_flask_app_under_concurrent_requests_reads_the_catalog_once() -> None:
    from examples.sync_web.flask_app import create_app

    catalog = Catalog()
    cache = hitbox.Cache(MemoryBackend())
    app = create_app(cache, catalog)
    statuses: list[int] = []

    def request() -> None:
        statuses.append(app.test_client().get("/products/2").status_code)

    threads = [threading.Thread(target=request) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 16
    assert catalog.lookups == 1
    cache.close()


@pytest.fixture(scope="module")
def django_settings() -> None:
    from django.conf import settings

    if not settings.configured:
        settings.configure(DEBUG=False, ALLOWED_HOSTS=["testserver"], ROOT_URLCONF=__name__)
    import django

    django.setup()


def test_django_view_serves_cached_products(django_settings: None) -> None:
    from django.http import Http404
    from django.test import RequestFactory

    from examples.sync_web import django_views

    factory = RequestFactory()
    before = django_views.CATALOG.lookups
    first = django_views.product(factory.get("/products/2"), 2)
    second = django_views.product(factory.get("/products/2"), 2)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content == b'{"id": 2, "name": "teapot", "price": 25.5}'
    assert django_views.CATALOG.lookups == before + 1
    with pytest.raises(Http404):
        django_views.product(factory.get("/products/3"), 3)
    django_views.CACHE.close()


urlpatterns: list[object] = []
