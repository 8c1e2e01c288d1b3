"""TLS (``rediss://``) and authentication against real servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hitbox.testing import make_value
from hitbox_redis import RedisBackend
from redis.exceptions import AuthenticationError, RedisError

from tests.redis_servers import RedisServer, redis_binaries
from tests.support import require_binary, service_unavailable

pytestmark = pytest.mark.services

MakeBackend = Callable[..., RedisBackend]


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if redis_binaries() is None:
        service_unavailable("redis-server / redis-cli are not installed")
    require_binary("openssl")
    try:
        server = RedisServer.start_tls(tmp_path_factory.mktemp("redis-tls"))
    except (OSError, TimeoutError) as exc:
        service_unavailable(f"cannot start redis-server with TLS: {exc}")
    yield server
    server.stop()


def ca_file(server: RedisServer) -> str:
    return str(server.directory / "tls" / "ca.crt")


async def round_trip(backend: RedisBackend) -> bytes:
    await backend.set("secure", make_value(b"protected"), 60)
    stored = await backend.get("secure")
    assert stored is not None
    return stored.data


async def test_rediss_verifies_the_server_with_the_given_ca(
    tls_server: RedisServer, make_backend: MakeBackend
) -> None:
    url = f"rediss://127.0.0.1:{tls_server.port}/0?ssl_ca_certs={ca_file(tls_server)}"
    backend = make_backend(url)
    assert backend.config.ssl is True
    assert await round_trip(backend) == b"protected"
    assert await backend.ping() is True


async def test_an_untrusted_certificate_is_refused(
    tls_server: RedisServer, make_backend: MakeBackend
) -> None:
    backend = make_backend(f"rediss://127.0.0.1:{tls_server.port}/0")  # no CA given
    with pytest.raises(RedisError):
        await backend.ping()


async def test_verification_can_be_switched_off_explicitly(
    tls_server: RedisServer, make_backend: MakeBackend
) -> None:
    backend = make_backend(f"rediss://127.0.0.1:{tls_server.port}/0?ssl_cert_reqs=none")
    assert await round_trip(backend) == b"protected"


async def test_plaintext_to_a_tls_port_fails(
    tls_server: RedisServer, make_backend: MakeBackend
) -> None:
    backend = make_backend(f"redis://127.0.0.1:{tls_server.port}/0")
    with pytest.raises((RedisError, OSError)):
        await backend.ping()


async def test_acl_user_and_password_from_the_url(
    redis_server_factory: Callable[..., RedisServer], make_backend: MakeBackend
) -> None:
    server = redis_server_factory("--user", "cache", "on", ">s3cret:pw", "~*", "&*", "+@all")
    good = make_backend(f"redis://cache:s3cret%3Apw@127.0.0.1:{server.port}/0")
    assert await round_trip(good) == b"protected"
    wrong = make_backend(f"redis://cache:nope@127.0.0.1:{server.port}/0")
    with pytest.raises(AuthenticationError):
        await wrong.ping()
    anonymous = make_backend(f"redis://127.0.0.1:{server.port}/2")
    assert await anonymous.ping() is True  # default user still on; db 2 selected fine
    assert anonymous.config.db == 2
