"""HTTP entries live under the :class:`hitbox.Cache`'s namespace: two applications (or two
``hitbox proxy`` configurations) with different namespaces on one real Redis never share
an entry (nor invalidate each other's), and every key they write carries their prefix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import hitbox
import httpx
import redis.asyncio as redis
from hitbox_http import CacheMiddleware
from hitbox_http._cli import build_proxy
from hitbox_redis import RedisBackend

from tests.http.asgi_apps import Origin, client
from tests.http.servers import serve
from tests.redis_servers import RedisServer

PATH = "/test_http_namespace"  # the server is shared by the session


def answering(text: str) -> Origin:
    def handler(scope: Any, _: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        if scope["method"] == "POST":
            return 204, [], b""
        headers = [("cache-control", "max-age=60"), ("vary", "accept-language")]
        return 200, headers, text.encode()

    return Origin(handler)


async def test_two_namespaces_on_one_redis_never_share_an_http_entry(
    redis_server: RedisServer, make_backend: Callable[..., RedisBackend]
) -> None:
    apps = {}
    for name in ("shop", "blog"):
        cache = hitbox.Cache(make_backend(redis_server.url), key_strategy={"namespace": name})
        apps[name] = (answering(name), cache)
    seen: dict[str, list[str]] = {}
    for name, (origin, cache) in apps.items():
        async with client(CacheMiddleware(origin, cache=cache)) as http:
            first = await http.get(PATH, headers={"accept-language": "en"})
            second = await http.get(PATH, headers={"accept-language": "en"})
            seen[name] = [first.text, second.text, second.headers["cache-status"]]
    assert seen["shop"][:2] == ["shop", "shop"]
    assert seen["blog"][:2] == ["blog", "blog"]  # not the shop's stored response
    assert all(status.startswith("hitbox; hit") for *_, status in seen.values())
    assert [len(origin.calls) for origin, _ in apps.values()] == [1, 1]

    connection = redis.Redis.from_url(redis_server.url)
    try:
        keys = [key.decode() async for key in connection.scan_iter(f"*{PATH}*")]
    finally:
        await connection.aclose()
    # A variant index and one variant for each application, each under its prefix.
    assert sorted(key.split(":", 1)[0] for key in keys) == ["blog", "blog", "shop", "shop"]

    # An unsafe request in one namespace invalidates only that namespace's entries.
    shop_origin, shop_cache = apps["shop"]
    async with client(CacheMiddleware(shop_origin, cache=shop_cache)) as http:
        await http.post(PATH)
        shop_after = await http.get(PATH, headers={"accept-language": "en"})
    blog_origin, blog_cache = apps["blog"]
    async with client(CacheMiddleware(blog_origin, cache=blog_cache)) as http:
        blog_after = await http.get(PATH, headers={"accept-language": "en"})
    assert shop_after.headers["cache-status"].startswith("hitbox; fwd=uri-miss")
    assert blog_after.headers["cache-status"].startswith("hitbox; hit")


async def test_two_proxies_configured_with_namespaces_never_share(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    origins = {name: answering(name) for name in ("edge-a", "edge-b")}
    texts = {}
    for name, origin in origins.items():
        config = tmp_path / f"{name}.toml"
        config.write_text(
            f'[hitbox]\nnamespace = "{name}"\n'
            f'backend = {{ name = "redis", url = "{redis_server.url}" }}\n'
        )
        with serve(origin) as upstream, serve(build_proxy(upstream, str(config))) as url:
            async with httpx.AsyncClient(base_url=url) as http:
                # Both proxies answer for the same Host and path.
                headers = {"host": "shared.example", "accept-language": "en"}
                first = await http.get(PATH + "-proxy", headers=headers)
                second = await http.get(PATH + "-proxy", headers=headers)
        texts[name] = (first.text, second.text, second.headers["cache-status"])
    assert texts["edge-a"][:2] == ("edge-a", "edge-a")
    assert texts["edge-b"][:2] == ("edge-b", "edge-b")
    assert all(status.startswith("hitbox; hit") for *_, status in texts.values())
    assert [len(origin.calls) for origin in origins.values()] == [1, 1]
