"""Configuration: one TOML file per deployment, read once here into frozen values and passed down."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "Config", "ServerConfig", "BackendConfig", "CacheConfig", "TableCacheConfig", "load_config",
           "metrics_address"]


class ConfigError(ValueError):
    """A config value that cannot work; its message is one line naming the key."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8111
    max_body_bytes: int = 16 * 1024 * 1024 + 65536
    max_header_bytes: int = 64 * 1024
    request_timeout: float = 30.0
    idle_timeout: float = 300.0
    max_connections: int = 0  # 0: sized for the machine (the file descriptor limit less a reserve)
    shutdown_grace: float = 10.0
    auth: str = "none"  # "sigv4": requests must be signed with one of `credentials`
    credentials: dict[str, str] = field(default_factory=dict)  # access key id -> secret access key
    auth_max_skew: float = 300.0
    workers: int | str = 1  # processes on the port (SO_REUSEPORT); "auto": one per CPU this process may use
    policies: str | None = None  # JSON file: access key id -> IAM policy document (needs auth = "sigv4")
    tls_cert: str | None = None  # PEM certificate chain: with tls_key, the listener speaks HTTPS (TLS 1.2+)
    tls_key: str | None = None  # PEM private key
    metrics_listen: str | None = None  # "127.0.0.1:9111": /metrics unsigned on a listener of its own

    def __post_init__(self) -> None:
        if self.auth not in ("none", "sigv4"):
            raise ConfigError(f'[server] auth must be "none" or "sigv4", not {self.auth!r}')
        if self.auth == "sigv4" and not self.credentials:
            raise ConfigError('[server] auth = "sigv4" needs access keys in [server.credentials]')
        if not all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in self.credentials.items()):
            raise ConfigError("[server.credentials] maps access key ids to secret access keys (strings)")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("[server] tls_cert and tls_key go together (PEM certificate chain and private key)")
        if self.metrics_listen is not None:
            metrics_address(self.metrics_listen)
        if self.auth_max_skew <= 0:
            raise ConfigError("[server] auth_max_skew must be a positive number of seconds")


def metrics_address(text: str) -> tuple[str, int]:
    """``host:port`` of ``[server] metrics_listen``, checked."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f'[server] metrics_listen must be "host:port", e.g. "127.0.0.1:9111", not {text!r}')
    return host.strip("[]"), int(port)


@dataclass(frozen=True, slots=True)
class BackendConfig:
    """Which store, and the options its constructor takes (passed through as keyword arguments)."""

    kind: str = "sqlite"
    data_dir: str = "data"
    ttl_sweep_interval: float = 30.0
    encryption_key_file: str | None = None  # AES-256 keys, newest first: values are sealed at rest
    export_root: str | None = None  # where S3Bucket names of exports/imports live (default <data_dir>/exports)
    stream_shard_seconds: float = 4 * 3600.0  # a stream's shard rolls over after this long (DynamoDB: ~4 h)
    log_upkeep_interval: float = 60.0  # seconds between change-log upkeep rounds (shard roll-over, trim)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TableCacheConfig:
    enabled: bool | None = None
    item_ttl: float | None = None
    negative_ttl: float | None = None
    query_ttl: float | None = None


@dataclass(frozen=True, slots=True)
class CacheConfig:
    enabled: bool = True
    item_cache_bytes: int = 256 * 1024 * 1024
    item_ttl: float = 300.0
    negative_ttl: float = 60.0
    query_cache_bytes: int = 64 * 1024 * 1024
    query_ttl: float = 60.0
    tables: dict[str, TableCacheConfig] = field(default_factory=dict)
    broadcast: str | None = None  # e.g. "redis://127.0.0.1:6379/0": invalidations to every node
    broadcast_channel: str = "accelerator:cache:invalidations"


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)

    def override(self, **changes: Any) -> Config:
        """A copy with command-line overrides applied (None means "keep the file's value")."""
        server, backend = self.server, self.backend
        if changes.get("host") is not None:
            server = replace(server, host=changes["host"])
        if changes.get("port") is not None:
            server = replace(server, port=changes["port"])
        if changes.get("workers") is not None:
            server = replace(server, workers=changes["workers"])
        if changes.get("backend") is not None:
            backend = replace(backend, kind=changes["backend"])
        if changes.get("data_dir") is not None:
            backend = replace(backend, data_dir=changes["data_dir"])
        if changes.get("upstream_url") is not None:
            backend = replace(backend, options={**backend.options, "endpoint_url": changes["upstream_url"]})
        cache = self.cache
        if changes.get("cache") is not None:
            cache = replace(cache, enabled=changes["cache"])
        return Config(server=server, backend=backend, cache=cache)


def _section(cls: Any, raw: dict[str, Any], name: str) -> Any:
    known = set(cls.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"unknown keys in [{name}]: {', '.join(sorted(unknown))}")
    return cls(**raw)


def load_config(path: str | Path | None) -> Config:
    """Read a TOML file (or defaults when ``path`` is None)."""
    if path is None:
        return Config()
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    server = _section(ServerConfig, raw.get("server", {}), "server")
    backend_raw = dict(raw.get("backend", {}))
    kind = backend_raw.pop("kind", "sqlite")
    data_dir = backend_raw.pop("data_dir", "data")
    sweep = float(backend_raw.pop("ttl_sweep_interval", 30.0))
    shard_seconds = float(backend_raw.pop("stream_shard_seconds", 4 * 3600.0))
    upkeep = float(backend_raw.pop("log_upkeep_interval", 60.0))
    key_file = backend_raw.pop("encryption_key_file", None)
    export_root = backend_raw.pop("export_root", None)
    if key_file is not None and not isinstance(key_file, str):
        raise ValueError("[backend] encryption_key_file must be a file name")
    backend = BackendConfig(kind=kind, data_dir=data_dir, ttl_sweep_interval=sweep, encryption_key_file=key_file,
                            export_root=export_root,
                            stream_shard_seconds=shard_seconds, log_upkeep_interval=upkeep, options=backend_raw)
    cache_raw = dict(raw.get("cache", {}))
    tables = {name: _section(TableCacheConfig, spec, f"cache.tables.{name}")
              for name, spec in cache_raw.pop("tables", {}).items()}
    cache = _section(CacheConfig, {**cache_raw, "tables": tables}, "cache")
    return Config(server=server, backend=backend, cache=cache)
