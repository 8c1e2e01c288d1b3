"""Real ``redis-server`` processes for tests: standalone, a 3-master cluster, Sentinel.

Each server runs on free loopback ports, in its own temporary directory, without
persistence, and is stopped by PID. Servers can be killed (SIGKILL), frozen (SIGSTOP),
thawed and restarted on the same port, for fault tests. Reused by every test area that
needs Redis (the Redis backend, the tiered cache, integration tests)::

    from tests.redis_servers import RedisServer, RedisClusterServers

    server = RedisServer.start(tmp_path)
    ...
    server.stop()

Never touches the system Redis on port 6379.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import free_port, wait_for_port

__all__ = [
    "RedisClusterServers",
    "RedisSentinel",
    "RedisServer",
    "make_certificates",
    "redis_binaries",
]

_START_TIMEOUT = 10.0


def redis_binaries() -> tuple[str, str] | None:
    """Paths of ``redis-server`` and ``redis-cli``, or ``None`` if either is missing."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        return None
    return server, cli


def _free_port() -> int:
    port = free_port()
    while port == 6379:  # never the system Redis
        port = free_port()
    return port


@dataclass
class RedisServer:
    """One ``redis-server`` process; restartable on the same port and directory."""

    port: int
    directory: Path
    extra_args: tuple[str, ...] = ()
    config_file: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def start(
        cls,
        directory: Path,
        *extra_args: str,
        port: int | None = None,
        config_file: Path | None = None,
    ) -> RedisServer:
        """Start a server in ``directory`` (created) and wait until it accepts connections."""
        directory.mkdir(parents=True, exist_ok=True)
        server = cls(port or _free_port(), directory, tuple(extra_args), config_file)
        server.launch()
        return server

    @property
    def pid(self) -> int:
        """PID of the running process."""
        assert self.process is not None, "server is not running"
        return self.process.pid

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def launch(self) -> None:
        """(Re)start the process on this server's port and directory."""
        binaries = redis_binaries()
        if binaries is None:
            raise FileNotFoundError("redis-server / redis-cli are not installed")
        args = [
            binaries[0],
            *([str(self.config_file)] if self.config_file else []),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "no",
            "--daemonize", "no",
            "--logfile", str(self.directory / "redis.log"),
            *self.extra_args,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.directory
        )
        try:
            wait_for_port(self.port, timeout=_START_TIMEOUT)
        except TimeoutError:
            self.stop()
            raise TimeoutError(f"redis-server did not start; log: {self.log_tail()}") from None

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the process (if it is running)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL the process and wait for it to go away (sockets closed by the kernel)."""
        if self.process is None:
            return
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGKILL)
        self.process.wait(timeout=_START_TIMEOUT)
        self.process = None

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its sockets but answers nothing."""
        self.signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after :meth:`freeze`."""
        self.signal(signal.SIGCONT)

    def restart(self) -> None:
        """Kill (if running) and start again on the same port."""
        self.kill()
        self.launch()

    def stop(self) -> None:
        """Terminate the process by PID (SIGTERM, then SIGKILL after a grace period)."""
        if self.process is None:
            return
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait(timeout=5)
        self.process = None

    def cli(self, *args: str) -> str:
        """Run ``redis-cli -p <port> <args>`` and return its output."""
        binaries = redis_binaries()
        assert binaries is not None
        return subprocess.run(
            [binaries[1], "-h", "127.0.0.1", "-p", str(self.port), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout

    @classmethod
    def start_tls(cls, directory: Path) -> RedisServer:
        """A server that speaks only TLS, with a throwaway CA (``directory / "ca.crt"``)."""
        ca, cert, key = make_certificates(directory / "tls")
        port = _free_port()
        options = {
            "--port": "0",
            "--tls-port": str(port),
            "--tls-cert-file": str(cert),
            "--tls-key-file": str(key),
            "--tls-ca-cert-file": str(ca),
            "--tls-auth-clients": "no",
        }
        args = [part for pair in options.items() for part in pair]
        return cls.start(directory, *args, port=port)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server log (for error messages)."""
        with contextlib.suppress(OSError):
            return "\n".join((self.directory / "redis.log").read_text().splitlines()[-lines:])
        return "(no log)"


@dataclass
class RedisClusterServers:
    """A Redis Cluster of ``masters`` masters (and ``replicas`` replicas per master)."""

    nodes: list[RedisServer]

    @classmethod
    def start(
        cls, directory: Path, masters: int = 3, replicas: int = 0, node_timeout_ms: int = 2000
    ) -> RedisClusterServers:
        """Start the nodes, ``redis-cli --cluster create`` them, wait for ``cluster_state:ok``."""
        nodes: list[RedisServer] = []
        try:
            for index in range(masters * (1 + replicas)):
                options = {
                    "--cluster-enabled": "yes",
                    "--cluster-config-file": "nodes.conf",
                    "--cluster-node-timeout": str(node_timeout_ms),
                    "--cluster-port": str(_free_port()),
                }
                args = [part for pair in options.items() for part in pair]
                nodes.append(RedisServer.start(directory / f"node{index}", *args))
            cluster = cls(nodes)
            addresses = [f"127.0.0.1:{node.port}" for node in nodes]
            nodes[0].cli(
                "--cluster", "create", *addresses,
                "--cluster-replicas", str(replicas), "--cluster-yes",
            )  # fmt: skip
            cluster.wait_until_ok()
            if replicas:
                cluster.wait_for_replication()
        except BaseException:
            for node in nodes:
                node.stop()
            raise
        return cluster

    @property
    def url(self) -> str:
        """``redis+cluster://`` URL listing every node."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def wait_until_ok(self, timeout: float = 20.0) -> None:
        """Block until every running node reports ``cluster_state:ok``."""
        deadline = time.monotonic() + timeout
        while True:
            states = [
                "cluster_state:ok" in node.cli("cluster", "info")
                for node in self.nodes
                if node.process is not None
            ]
            if all(states):
                return
            if time.monotonic() > deadline:
                raise TimeoutError("cluster did not reach cluster_state:ok")
            time.sleep(0.1)

    def wait_for_replication(self, timeout: float = 20.0) -> None:
        """Block until every replica has synced with its master (it can fail over then)."""
        deadline = time.monotonic() + timeout
        while True:
            links = [
                "master_link_status:up" in info
                for info in (node.cli("info", "replication") for node in self.nodes)
                if "role:slave" in info
            ]
            if links and all(links):
                return
            if time.monotonic() > deadline:
                raise TimeoutError("replicas did not sync with their masters")
            time.sleep(0.1)

    def master_of_slot(self, slot: int) -> RedisServer:
        """The node currently serving ``slot`` as a master."""
        for node in self.nodes:
            if node.process is None:
                continue
            for line in node.cli("cluster", "nodes").splitlines():
                parts = line.split()
                if "myself" in parts[2] and "master" in parts[2]:
                    for span in parts[8:]:
                        low, _, high = span.partition("-")
                        if low.isdigit() and int(low) <= slot <= int(high or low):
                            return node
        raise LookupError(f"no running master serves slot {slot}")

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()


@dataclass
class RedisSentinel:
    """A master and one Sentinel monitoring it as ``service_name``."""

    master: RedisServer
    sentinel: RedisServer
    service_name: str = "hitbox-master"

    @classmethod
    def start(cls, directory: Path, service_name: str = "hitbox-master") -> RedisSentinel:
        """Start a master, then a Sentinel (``redis-server --sentinel``) watching it."""
        master = RedisServer.start(directory / "master")
        sentinel_dir = directory / "sentinel"
        sentinel_dir.mkdir(parents=True, exist_ok=True)
        config = sentinel_dir / "sentinel.conf"
        config.write_text(
            f"sentinel monitor {service_name} 127.0.0.1 {master.port} 1\n"
            f"sentinel down-after-milliseconds {service_name} 1000\n"
        )
        try:
            sentinel = RedisServer.start(sentinel_dir, "--sentinel", config_file=config)
        except BaseException:
            master.stop()
            raise
        return cls(master, sentinel, service_name)

    @property
    def url(self) -> str:
        """``redis+sentinel://127.0.0.1:<sentinel port>/<service_name>/0``."""
        return f"redis+sentinel://127.0.0.1:{self.sentinel.port}/{self.service_name}/0"

    def stop(self) -> None:
        """Stop the Sentinel and the master."""
        self.sentinel.stop()
        self.master.stop()


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for ``127.0.0.1``/``localhost``: (ca, cert, key)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("openssl is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    cert, key, csr = directory / "server.crt", directory / "server.key", directory / "server.csr"
    extensions = directory / "san.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    commands = [
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(ca_key), "-out", str(ca), "-subj", "/CN=hitbox-test-ca"],
        [openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(csr), "-subj", "/CN=localhost"],
        [openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
         "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(extensions)],
    ]  # fmt: skip
    for command in commands:
        subprocess.run(command, capture_output=True, check=True, timeout=60)
    return ca, cert, key
