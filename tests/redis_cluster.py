"""Throwaway ``redis-server`` processes for the tests: single servers and a 3-node Redis Cluster.

Everything runs on free loopback ports in temp directories and is killed by pid at the end; the shared
Redis on :6379 is never touched. ``shared_cluster()`` is the one cluster of a test process (the
``redis_cluster`` fixture and the storage factories use it), started on first use and stopped at session
end (or interpreter exit). Without the ``redis-server`` binary the tests skip, or fail under CI=true.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backend_services import unavailable

__all__ = ["RedisServer", "LocalCluster", "free_port", "shared_cluster", "redis_cluster", "require_redis_server"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL if the test process dies, so no server outlives it."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def require_redis_server() -> str:
    path = shutil.which("redis-server")
    if path is None:
        unavailable("the redis-server binary is not installed (apt-get install redis-server)")
    return path


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(cluster_bus: bool = False) -> int:
    """A free loopback port (and port + 10000 too, for a cluster node's bus)."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if not cluster_bus or (port + 10000 < 65536 and _port_free(port + 10000)):
            return port
    raise RuntimeError("no free port pair found")


def _ping(port: int, timeout: float = 0.2) -> bytes | None:
    """Send a raw PING; the first reply line, or None if nothing answers."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64)
    except OSError:
        return None


class RedisServer:
    """One redis-server process on ``port`` with its data in ``directory``; restartable on the same both."""

    def __init__(self, directory: Path, *, port: int | None = None, cluster: bool = False, aof: bool = False):
        self.directory = directory
        self.cluster = cluster
        self.port = port if port is not None else free_port(cluster_bus=cluster)
        self.aof = aof
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        args = [
            require_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--save", "", "--daemonize", "no", "--protected-mode", "no", "--logfile", "redis.log",
        ]
        if self.aof:  # every acknowledged write is on disk: what a restart after SIGKILL must find again
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", "1000"]
        return args

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server on port {self.port} exited: {log}")
            if _ping(self.port) == b"+PONG\r\n":
                return self
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"redis-server on port {self.port} did not answer within {timeout}s")

    def kill(self) -> None:
        """SIGKILL the process this object started (no shutdown save: a crash)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> RedisServer:
        self.kill()
        return self.start()


class LocalCluster:
    """A Redis Cluster of ``size`` masters (no replicas) on free loopback ports."""

    def __init__(self, size: int = 3, *, aof: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="accel-redis-cluster-"))
        self.servers = [RedisServer(self.root / f"node{i}", cluster=True, aof=aof) for i in range(size)]

    @property
    def nodes(self) -> list[str]:
        """Startup nodes as ``host:port`` strings (what ``RedisStorage(cluster_nodes=...)`` takes)."""
        return [f"127.0.0.1:{s.port}" for s in self.servers]

    def start(self, timeout: float = 30.0) -> LocalCluster:
        try:
            for server in self.servers:
                server.start()
            subprocess.run(
                ["redis-cli", "--cluster", "create", *self.nodes, "--cluster-replicas", "0", "--cluster-yes"],
                check=True, capture_output=True, timeout=timeout,
            )
            self.wait_ok(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def info_ok(self, server: RedisServer) -> bool:
        try:
            out = subprocess.run(
                ["redis-cli", "-p", str(server.port), "cluster", "info"], capture_output=True, timeout=5
            ).stdout
        except subprocess.TimeoutExpired:
            return False
        return b"cluster_state:ok" in out

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every node reports cluster_state:ok."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(s.process is not None and self.info_ok(s) for s in self.servers):
                return
            time.sleep(0.05)
        raise RuntimeError(f"cluster {self.nodes} not ok within {timeout}s")

    def stop(self) -> None:
        for server in self.servers:
            server.kill()
        shutil.rmtree(self.root, ignore_errors=True)


_shared: LocalCluster | None = None


def shared_cluster() -> LocalCluster:
    """This process's test cluster, started on first use."""
    global _shared
    if _shared is None:
        require_redis_server()
        _shared = LocalCluster().start()
        atexit.register(_stop_shared)
    return _shared


def _stop_shared() -> None:
    global _shared
    cluster, _shared = _shared, None
    if cluster is not None:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    """The session's 3-node Redis Cluster; its processes are killed when the session ends."""
    yield shared_cluster()
    _stop_shared()

