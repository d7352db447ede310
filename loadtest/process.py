"""Start a server subprocess and wait for ``GET /health``; shared by the runner and the end-to-end tests.

No Locust import here: tests import this module, and Locust monkey-patches the process that imports it.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

__all__ = ["ROOT", "free_port", "start_healthy"]

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_healthy(cmd: list[str], url: str, log_path: Path, timeout: float,
                  context: ssl.SSLContext | None = None) -> subprocess.Popen[bytes]:
    """Run ``cmd`` from the repository root, output appended to ``log_path``; return once ``url/health`` is 200
    (over HTTPS with ``context`` when the URL is https://)."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1, context=context) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    proc.wait()
    raise RuntimeError(f"server did not become healthy in {timeout}s:\n{log_path.read_text()[-3000:]}")
