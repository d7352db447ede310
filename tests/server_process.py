"""Start and stop real accelerator server processes for end-to-end tests."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from loadtest.process import ROOT, free_port, start_healthy

__all__ = ["ROOT", "free_port", "ServerProcess", "write_config"]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    """Write a small TOML config: {"server": {...}, "backend": {...}, "cache": {...}}."""
    lines: list[str] = []
    for name, body in sections.items():
        lines.append(f"[{name}]")
        nested = {k: v for k, v in body.items() if isinstance(v, dict)}
        for key, value in body.items():
            if not isinstance(value, dict):
                lines.append(f"{key} = {_toml_value(value)}")
        for key, value in nested.items():
            lines.append(f"[{name}.{key}]")
            for k, v in value.items():
                lines.append(f"{k} = {_toml_value(v)}")
    path.write_text("\n".join(lines) + "\n")
    return path


class ServerProcess:
    """One ``accelerator serve`` process on a free loopback port."""

    def __init__(self, backend: dict[str, Any], cache: dict[str, Any] | None = None,
                 data_dir: str | None = None, server: dict[str, Any] | None = None) -> None:
        self.dir = Path(data_dir or tempfile.mkdtemp(prefix="accel-"))
        self.port = free_port()
        self.tls = bool(server and server.get("tls_cert"))
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"
        backend = {"data_dir": str(self.dir / "data"), **backend}
        self.config = write_config(self.dir / "config.toml", {
            "server": {"host": "127.0.0.1", "port": self.port, **(server or {})},
            "backend": backend,
            "cache": cache if cache is not None else {"enabled": True},
        })
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "server.log"

    def start(self, timeout: float = 20.0) -> ServerProcess:
        self.proc = start_healthy([sys.executable, "-m", "accelerator.cli", "serve", "--config", str(self.config),
                                   "--log-level", "warning"], self.url, self.log, timeout,
                                  context=self._health_context())
        return self

    def _health_context(self) -> ssl.SSLContext | None:
        """For the readiness poll only: the tests check the certificate themselves."""
        if not self.tls:
            return None
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()
