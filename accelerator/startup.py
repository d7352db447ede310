"""Startup mistakes as one line: where the backend is, whether its address parses, the data directory, the port.

``StartupError`` is what the command line prints as ``accelerator: error: ...`` (no traceback unless
``--log-level debug``); it covers what a config check cannot see: a port in use, a backend that does not
answer, a data directory that cannot be created or written.
"""

from __future__ import annotations

import errno
import os
import urllib.parse
from typing import Any

from accelerator.config import Config, ConfigError

__all__ = ["StartupError", "backend_address", "check_addresses", "prepare_data_dir", "listen_error"]

_POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"  # backends.postgres.DEFAULT_DSN
_REDIS_URL = "redis://127.0.0.1:6379/0"  # backends.redis.driver.DEFAULT_URL
_DSN_EXAMPLE = "postgresql://user:password@host:5432/database"


class StartupError(Exception):
    """The server cannot start for a reason outside its config file's syntax; the message is one line."""


def _host_port(url: str, default_port: int) -> str:
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port or default_port
    except ValueError:
        port = default_port
    return f"{parts.hostname or 'localhost'}:{port}"


def check_addresses(config: Config) -> None:
    """A PostgreSQL DSN or Redis URL that does not parse is a ConfigError now, not a database name later."""
    options = config.backend.options
    kind = config.backend.kind
    if kind == "postgres" and isinstance(options.get("dsn"), str):
        dsn = options["dsn"]
        parts = urllib.parse.urlsplit(dsn)
        if parts.scheme not in ("postgres", "postgresql") or not (parts.netloc or parts.query):
            raise ConfigError(f"[backend] dsn: expected a URL like {_DSN_EXAMPLE}, got {dsn!r}")
        try:
            parts.port  # noqa: B018 - a port that is not a number raises here
        except ValueError:
            raise ConfigError(f"[backend] dsn: the port is not a number in {dsn!r}") from None
    if kind in ("redis", "redis-cluster") and isinstance(options.get("url"), str):
        url = options["url"]
        if urllib.parse.urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(f"[backend] url: expected redis://host:port/db (or rediss://, unix://), got {url!r}")


def backend_address(config: Config) -> str:
    """Where the backend is, for an error message: host:port, nodes, a file or an endpoint."""
    options: dict[str, Any] = config.backend.options
    kind = config.backend.kind
    if kind == "postgres":
        return _host_port(str(options.get("dsn", _POSTGRES_DSN)), 5432)
    if kind == "redis":
        return _host_port(str(options.get("url", _REDIS_URL)), 6379)
    if kind == "redis-cluster":
        nodes = options.get("cluster_nodes") or ()
        return ", ".join(n if isinstance(n, str) else ":".join(map(str, n)) for n in nodes)
    if kind == "sqlite":
        return str(options.get("path", os.path.join(config.backend.data_dir, "accelerator.db")))
    if kind == "dynamodb":
        return str(options.get("endpoint_url", "the AWS endpoint of the configured region"))
    return "memory"


def prepare_data_dir(config: Config) -> None:
    """Create the SQLite data directory (and parents) if needed; it must be writable."""
    if config.backend.kind != "sqlite" or "path" in config.backend.options:
        return
    path = config.backend.data_dir
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"data directory {path!r}: cannot create it: {exc.strerror} (set --data-dir or "
                           "[backend] data_dir)") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise StartupError(f"data directory {path!r} is not writable by this user (set --data-dir or "
                           "[backend] data_dir)")


def listen_error(host: str, port: int, exc: OSError) -> StartupError:
    """One line for a failed bind."""
    reason = exc.strerror or str(exc)
    hint = ""
    if exc.errno == errno.EADDRINUSE:
        reason = "the address is already in use"
        hint = " (another server is listening there: choose another port with --port)"
    elif exc.errno == errno.EACCES:
        hint = " (ports below 1024 need privileges: choose another with --port)"
    return StartupError(f"cannot listen on {host}:{port}: {reason}{hint}")
