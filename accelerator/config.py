"""Configuration: one TOML file per deployment, read once here into frozen values and passed down."""

from __future__ import annotations

import tomllib
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "check_options", "Config", "ServerConfig", "BackendConfig", "CacheConfig", "TableCacheConfig", "load_config",
           "metrics_address"]


class ConfigError(ValueError):
    """A config value that cannot work; its message is one line naming the key."""


BACKEND_KINDS = ("memory", "sqlite", "postgres", "redis", "redis-cluster", "dynamodb")
_RANGES: dict[str, tuple[float, float]] = {"port": (0, 65535)}
"""Bounds of numeric keys by name; every other number (sizes, timeouts, intervals, counts) is >= 0."""


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _describe(hint: Any) -> str:
    if hint is bool:
        return "true or false"
    if hint is int:
        return "an integer"
    if hint is float:
        return "a number"
    if hint is str:
        return "a string"
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        return " or ".join(_describe(a) for a in args if a is not type(None))
    if typing.get_origin(hint) in (list, tuple, typing.get_origin(typing.Sequence)):
        return "a list"
    return "a table" if typing.get_origin(hint) is dict else "a value"


def _fits(value: Any, hint: Any) -> bool:
    if hint is bool:
        return type(value) is bool
    if hint is int:
        return type(value) is int
    if hint is float:
        return type(value) in (int, float)
    if hint is str:
        return type(value) is str
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return any(value is None if a is type(None) else _fits(value, a) for a in args)
    if origin is dict:
        return isinstance(value, dict) and all(type(k) is str for k in value)
    if origin in (list, tuple, typing.get_origin(typing.Sequence)):
        return isinstance(value, (list, tuple))
    return True


def _expected(name: str, hint: Any) -> str:
    expected = _describe(hint)
    if hint in (int, float) or any(a in (int, float) for a in typing.get_args(hint)):  # a number: its range too
        low, high = _RANGES.get(name, (0, float("inf")))
        expected += f" from {low:g} to {high:g}" if high != float("inf") else f" >= {low:g}"
    return expected


def _in_range(name: str, value: Any) -> bool:
    if type(value) not in (int, float):
        return True
    low, high = _RANGES.get(name, (0, float("inf")))
    return bool(low <= value <= high)


def check_options(kind: str, options: dict[str, Any], hints: dict[str, Any], required: set[str]) -> None:
    """Backend options against the constructor's signature (``backends.options_of``): names and types."""
    unknown = sorted(set(options) - set(hints))
    if unknown:
        raise ConfigError(f"[backend] unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} for "
                          f"the {kind} backend (it takes: {', '.join(sorted(hints)) or 'no options'})")
    missing = sorted(required - set(options))
    if missing:
        raise ConfigError(f"[backend] the {kind} backend needs {', '.join(missing)}")
    for name, value in options.items():
        hint = hints[name]
        if hint is not Any and not _fits(value, hint):
            raise ConfigError(f"[backend] {name}: expected {_describe(hint)}, got {value!r}")


def _check(obj: Any, section: str) -> None:
    """Types from the dataclass annotations, and ranges, of every field: ConfigError naming the first bad key."""
    hints = _hints(type(obj))
    for f in fields(obj):
        value, hint = getattr(obj, f.name), hints[f.name]
        if not _fits(value, hint) or not _in_range(f.name, value):
            raise ConfigError(f"[{section}] {f.name}: expected {_expected(f.name, hint)}, got {value!r}")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8111
    max_body_bytes: int = 16 * 1024 * 1024 + 65536
    max_header_bytes: int = 16 * 1024  # DynamoDB's limit, for the request line and for the headers
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
    cors_origins: list[str] = field(default_factory=list)  # browser origins allowed (CORS); "*": any; []: off

    def __post_init__(self) -> None:
        _check(self, "server")
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
        if not all(isinstance(o, str) and o for o in self.cors_origins):
            raise ConfigError('[server] cors_origins is a list of origins ("https://app.example.com") or "*"')
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
    table_stats_interval: float = 300.0  # seconds between recounts of DescribeTable's ItemCount/TableSizeBytes; 0: off
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(self, "backend")
        if self.kind not in BACKEND_KINDS:
            raise ConfigError(f"[backend] kind: expected one of {', '.join(BACKEND_KINDS)}, got {self.kind!r}")


@dataclass(frozen=True, slots=True)
class TableCacheConfig:
    enabled: bool | None = None
    item_ttl: float | None = None
    negative_ttl: float | None = None
    query_ttl: float | None = None

    def __post_init__(self) -> None:
        _check(self, "cache.tables.<name>")


@dataclass(frozen=True, slots=True)
class CacheConfig:
    enabled: bool = True
    item_cache_bytes: int = 256 * 1024 * 1024
    item_ttl: float = 300.0
    negative_ttl: float = 60.0
    query_cache_bytes: int = 64 * 1024 * 1024
    query_ttl: float = 60.0
    tables: dict[str, TableCacheConfig] = field(default_factory=dict)
    broadcast: str | None = None  # "redis://127.0.0.1:6379/0", "postgresql://..." or "postgres" (the backend's DB)
    broadcast_channel: str = "accelerator:cache:invalidations"

    def __post_init__(self) -> None:
        _check(self, "cache")


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


_SECTIONS = ("server", "backend", "cache")


def _section(cls: Any, raw: Any, name: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"[{name}] must be a table, got {raw!r}")
    known = set(cls.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(f"unknown keys in [{name}]: {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(sorted(known))})")
    try:
        return cls(**raw)
    except ConfigError as exc:  # name the table the key is in (a per-table cache section)
        raise ConfigError(str(exc).replace("[cache.tables.<name>]", f"[{name}]")) from None


def load_config(path: str | Path | None) -> Config:
    """Read a TOML file (or defaults when ``path`` is None); any error is a ConfigError naming the file."""
    if path is None:
        return Config()
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:  # its message names the line and column
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return _parse(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _parse(raw: dict[str, Any]) -> Config:
    unknown = set(raw) - set(_SECTIONS)
    if unknown:
        raise ConfigError(f"unknown sections: {', '.join(sorted(unknown))} (known: {', '.join(_SECTIONS)})")
    server = _section(ServerConfig, raw.get("server", {}), "server")
    backend_raw = raw.get("backend", {})
    if not isinstance(backend_raw, dict):
        raise ConfigError(f"[backend] must be a table, got {backend_raw!r}")
    backend_raw = dict(backend_raw)
    own = {f.name: backend_raw.pop(f.name) for f in fields(BackendConfig)
           if f.name in backend_raw and f.name != "options"}
    # the other keys are the backend's constructor options, bound against it before anything starts (app.py)
    backend = BackendConfig(**{**own, "options": backend_raw})
    cache_raw = raw.get("cache", {})
    if not isinstance(cache_raw, dict):
        raise ConfigError(f"[cache] must be a table, got {cache_raw!r}")
    cache_raw = dict(cache_raw)
    table_specs = cache_raw.pop("tables", {})
    if not isinstance(table_specs, dict):
        raise ConfigError(f"[cache.tables] must be a table, got {table_specs!r}")
    tables = {name: _section(TableCacheConfig, spec, f"cache.tables.{name}") for name, spec in table_specs.items()}
    cache = _section(CacheConfig, {**cache_raw, "tables": tables}, "cache")
    return Config(server=server, backend=backend, cache=cache)
