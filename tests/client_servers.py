"""Real server processes for the client tests: moto, and the accelerator itself once it can serve.

Also two in-process test servers on loopback: a fault injector (answers chosen errors before succeeding) and a
black hole (accepts connections, never answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"server on port {port} did not start")


def accelerator_available() -> bool:
    """Whether this checkout has the accelerator server and its CLI (written alongside this client)."""
    has_server = (ROOT / "accelerator" / "server").exists() or (ROOT / "accelerator" / "server.py").exists()
    has_cli = (ROOT / "accelerator" / "cli.py").exists() or (ROOT / "accelerator" / "cli").exists()
    return has_server and has_cli


class ServerProcess:
    """A moto server in its own process group on a free loopback port."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if kind != "moto":
            raise ValueError(kind)
        cmd = [sys.executable, "-m", "moto.server", "-p", str(self.port), "-H", "127.0.0.1"]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            wait_port(self.port, self.proc)
        except BaseException:
            self.kill()
            raise

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class _Accelerator:
    """The project's server (memory backend) through the e2e suite's launcher."""

    kind = "accelerator"

    def __init__(self) -> None:
        from tests.server_process import ServerProcess as AcceleratorProcess

        self._proc = AcceleratorProcess({"kind": "memory"}).start()
        self.url = self._proc.url
        self.port = self._proc.port

    def kill(self) -> None:
        import signal as _signal

        self._proc.stop(_signal.SIGKILL)


@contextlib.contextmanager
def server(kind: str) -> Iterator[ServerProcess | _Accelerator]:
    proc: ServerProcess | _Accelerator = _Accelerator() if kind == "accelerator" else ServerProcess(kind)
    try:
        yield proc
    finally:
        proc.kill()


def server_kinds() -> list[str]:
    """moto always; the accelerator too when this checkout can serve."""
    return ["moto", "accelerator"] if accelerator_available() else ["moto"]


class LoopbackServer:
    """An asyncio HTTP/1.1 server on a thread, answering each request through ``answer(target, body)``.

    ``answer`` returns (status, body dict), None to never answer (a black hole), or "close" to drop the
    connection without answering.
    """

    def __init__(
        self,
        answer: Callable[[str, bytes], tuple[int, dict[str, object]] | str | None],
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.answer = answer
        self.ssl_context = ssl_context
        self.requests: list[tuple[str, bytes]] = []
        self.connections = 0
        self.loop = asyncio.new_event_loop()
        self.port = free_port()
        self.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{self.port}"
        started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self.thread.start()
        started.wait(5)

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        srv = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port, ssl=self.ssl_context)
        )
        started.set()
        self.loop.run_forever()
        srv.close()
        tasks = asyncio.all_tasks(self.loop)
        for task in tasks:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self.loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {}
                for line in head.decode().split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                target = headers.get("x-amz-target", "").rpartition(".")[2]
                self.requests.append((target, body))
                answer = self.answer(target, body)
                if answer is None:
                    await asyncio.sleep(3600)
                    return
                if isinstance(answer, str):
                    return
                status, data = answer
                out = orjson.dumps(data)
                writer.write(
                    b"HTTP/1.1 %d X\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: r%d\r\n"
                    b"x-amz-crc32: %d\r\nContent-Length: %d\r\n\r\n%s"
                    % (status, len(self.requests), zlib.crc32(out), len(out), out)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(RuntimeError):
                writer.close()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
