"""Start a real ``accelerator serve`` process for the cache's end-to-end tests and benchmarks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["CacheServer", "boto_client", "cache_header"]

ROOT = Path(__file__).resolve().parent.parent


def _toml(sections: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, body in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in body.items() if not isinstance(v, dict)]
        for sub, values in ((k, v) for k, v in body.items() if isinstance(v, dict)):
            lines.append(f"[{name}.{sub}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


class CacheServer:
    """One server on a free port (``--port 0``; the real port is read from its first stdout line)."""

    def __init__(self, backend: str = "memory", cache: dict[str, Any] | None = None,
                 extra_args: tuple[str, ...] = (), cpu: int | None = None, data_dir: str | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="accel-cache-"))
        config = self.dir / "config.toml"
        config.write_text(_toml({"backend": {"kind": backend, "data_dir": data_dir or str(self.dir / "data")},
                                 "cache": cache or {"enabled": True}}))
        command = [sys.executable, "-m", "accelerator.cli", "serve", "--config", str(config), "--port", "0",
                   "--log-level", "warning", *extra_args]
        if cpu is not None:
            command = ["taskset", "-c", str(cpu), *command]
        self.log = open(self.dir / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        match = re.search(r"http://([\d.]+):(\d+)", line)
        if match is None:
            self.stop()
            raise RuntimeError(f"server did not start: {line!r}\n{(self.dir / 'server.log').read_text()}")
        self.host, self.port = match.group(1), int(match.group(2))
        self.url = f"http://{self.host}:{self.port}"

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return response.read()  # type: ignore[no-any-return]

    def post(self, path: str) -> bytes:
        """POST an admin route (a flush), with an empty body."""
        with urllib.request.urlopen(urllib.request.Request(self.url + path, data=b"", method="POST"),
                                    timeout=10) as response:
            return response.read()  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def __enter__(self) -> CacheServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def boto_client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}))


def cache_header(response: dict[str, Any]) -> str | None:
    return response["ResponseMetadata"]["HTTPHeaders"].get("x-accelerator-cache")  # type: ignore[no-any-return]
