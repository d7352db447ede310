"""Wiring: build the store stack from a Config, run the server, shut down gracefully on signals."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import os
import signal
import ssl
from dataclasses import replace
from typing import Any

from accelerator.api import Router
from accelerator.auth import SigV4Verifier, allow_all
from accelerator.cache import CachedStore
from accelerator.cache.shared import SharedGenerations
from accelerator.config import CacheConfig, Config, ConfigError, check_options, metrics_address
from accelerator.core.protocols import Storage, Store
from accelerator.cors import Cors
from accelerator.encryption import EncryptedStorage, EncryptionError, PlainStorage, load_key_file
from accelerator.engine import TableEngine
from accelerator.fanout import WorkerContext, fanout_routes, socket_path
from accelerator.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from accelerator.metrics import Metrics, TimedStore
from accelerator.policy import Enforcer, PolicyError, load_policies
from accelerator.routes import Route
from accelerator.server import Reply, Server, ServerLimits
from accelerator.startup import StartupError, backend_address, check_addresses, listen_error, prepare_data_dir

__all__ = ["check_backend", "check_encryption", "build_storage", "build_store", "serve", "run", "tls_context"]

METRICS_ACTION = "accelerator:GetMetrics"

log = logging.getLogger("accelerator")


def _check_options(kind: str, options: dict[str, Any]) -> None:
    from backends import options_of

    check_options(kind, options, *options_of(kind))


def check_backend(config: Config) -> None:
    """The [backend] options bound against the backend's constructor (names, needed ones, types): ConfigError."""
    check_addresses(config)
    backend = config.backend
    options = dict(backend.options)
    if backend.kind == "sqlite":  # its path comes from data_dir unless given
        options.setdefault("path", os.path.join(backend.data_dir, "accelerator.db"))
    _check_options(backend.kind, options)
    if backend.kind != "dynamodb":
        from backends import open_storage

        try:  # the values the constructor refuses (ranges, names); constructing opens nothing
            open_storage(backend.kind, **options)
        except ValueError as exc:
            raise ConfigError(f"[backend] {exc}") from None


def build_storage(config: Config, *, migrate: bool = False) -> Storage:
    """The storage backend of a config, sealed by EncryptedStorage when a key file is set."""
    from backends import open_storage

    backend = config.backend
    options: dict[str, Any] = dict(backend.options)
    if backend.kind == "sqlite" and "path" not in options:
        options["path"] = os.path.join(backend.data_dir, "accelerator.db")
    _check_options(backend.kind, options)
    if backend.encryption_key_file is None:
        return PlainStorage(open_storage(backend.kind, **options))
    ring = load_key_file(backend.encryption_key_file)
    return EncryptedStorage(open_storage(backend.kind, **options), ring, migrate=migrate)


def _upstream_sse() -> EncryptionError:
    return EncryptionError("[backend] encryption_key_file is for storage backends; a DynamoDB upstream encrypts "
                           "at rest itself (DynamoDB server-side encryption)")


def check_encryption(config: Config) -> None:
    """Open the store once and close it: a key file that does not fit is one line before any worker forks."""
    backend = config.backend
    if backend.kind == "memory" or (backend.kind == "dynamodb" and backend.encryption_key_file is None):
        return  # nothing stored between runs / nothing of ours stored
    if backend.kind == "dynamodb":
        raise _upstream_sse()
    prepare_data_dir(config)
    storage = build_storage(config)

    async def probe() -> None:
        await storage.open()  # on an EncryptionError the codec has closed the backend already
        await storage.close()

    try:
        asyncio.run(probe())
    except EncryptionError:
        raise
    except Exception as exc:
        reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        raise StartupError(f"cannot open the {backend.kind} backend at {backend_address(config)}: {reason}") \
            from exc


def build_store(config: Config, metrics: Metrics | None = None, shared: SharedGenerations | None = None,
                recount: bool = True) -> Store:
    """The store stack for a config: engine over storage (or an upstream), under the cache if enabled."""
    backend = config.backend
    store: Store
    if backend.kind == "dynamodb":
        from backends.dynamodb import DynamoDBStore

        if backend.encryption_key_file is not None:
            raise _upstream_sse()
        _check_options(backend.kind, backend.options)
        store = DynamoDBStore(**backend.options)
    else:
        storage = build_storage(config)
        if metrics is not None and isinstance(storage, EncryptedStorage):
            sealed = storage
            metrics.counter("accelerator_encryption_integrity_failures", lambda: sealed.broken,
                            "Stored values that failed to open (tampered with, moved or sealed by an unknown key)")
        engine = TableEngine(storage, ttl_sweep_interval=backend.ttl_sweep_interval,
                             export_root=backend.export_root or os.path.join(backend.data_dir, "exports"),
                             stream_shard_seconds=backend.stream_shard_seconds,
                             log_upkeep_interval=backend.log_upkeep_interval,
                             table_stats_interval=backend.table_stats_interval if recount else 0.0)
        if metrics is not None:
            upkeep = engine.log_upkeep
            metrics.counter("accelerator_changelog_trimmed_records", lambda: upkeep.trimmed,
                            "Change-log records trimmed past their retention (24 h, or the PITR window)")
            metrics.counter("accelerator_changelog_upkeep_errors", lambda: upkeep.errors,
                            "Change-log upkeep rounds (shard roll-over, trim) that failed")
            stats = engine.stats
            metrics.counter("accelerator_table_stats_errors", lambda: stats.errors,
                            "Recounts of DescribeTable's ItemCount / TableSizeBytes that failed")
        store = engine
    if config.cache.enabled:
        if metrics is not None:
            store = TimedStore(store, metrics)
        store = CachedStore(store, _cache_config(config), metrics=metrics, shared=shared)
    return store


def _cache_config(config: Config) -> CacheConfig:
    """``[cache] broadcast = "postgres"``: LISTEN/NOTIFY on the PostgreSQL backend's own database."""
    cache = config.cache
    if cache.broadcast != "postgres":
        return cache
    if config.backend.kind != "postgres":
        raise ConfigError('[cache] broadcast = "postgres" needs [backend] kind = "postgres" (or give a '
                          "postgresql:// URL)")
    from backends.postgres import DEFAULT_DSN

    return replace(cache, broadcast=str(config.backend.options.get("dsn", DEFAULT_DSN)))


def _verifier(config: Config) -> SigV4Verifier | None:
    s = config.server
    if s.auth == "none":
        return None
    return SigV4Verifier(s.credentials, max_skew=s.auth_max_skew)


def _enforcer(config: Config, store: Store, shared: SharedGenerations | None = None) -> Enforcer | None:
    """Per-key policies from ``[server] policies``; PolicyError (one line) when the file is wrong."""
    path = config.server.policies
    if path is None:
        return None
    if config.server.auth != "sigv4":
        raise PolicyError(f'policies file {path}: [server] policies needs auth = "sigv4" (the signing access key '
                          "is the principal)")
    policies = load_policies(path)

    async def describe(table: str) -> dict[str, Any]:
        return await store.call("DescribeTable", {"TableName": table})

    # With workers, a table's shared epoch moves when any worker changes or flushes it.
    enforcer = Enforcer(policies, describe, shared.epoch if shared is not None else None)
    listeners = getattr(store, "schema_listeners", None)
    if listeners is not None:  # the cache hears of other nodes' schema changes: re-learn key schemas then
        listeners.append(enforcer.forget)
    return enforcer


def tls_context(config: Config) -> ssl.SSLContext | None:
    """The server's TLS context (TLS 1.2 and up) from ``[server] tls_cert``/``tls_key``, or None for plain HTTP."""
    s = config.server
    if s.tls_cert is None or s.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(s.tls_cert, s.tls_key)
    except (OSError, ssl.SSLError) as exc:  # missing, unreadable, not PEM, key not matching the certificate
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"[server] tls_cert {s.tls_cert!r} / tls_key {s.tls_key!r}: cannot load: {reason}") \
            from None
    return context


def _local(host: str) -> bool:
    """Whether a bound address is reachable only from this machine or a private network."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_unspecified and (address.is_loopback or address.is_private)


async def serve(config: Config, stop: asyncio.Event | None = None, worker: WorkerContext | None = None) -> None:
    """Open the store, listen, and run until ``stop`` is set or SIGTERM/SIGINT arrives.

    As one of several workers (``worker``): the ports are shared (SO_REUSEPORT), the cache's generations
    are the machine's shared ones, /metrics and /admin/cache answer for every worker, and readiness goes
    to the supervisor instead of stdout.
    """
    tls = tls_context(config)  # before anything opens: a bad certificate is a startup error
    metrics = Metrics()
    # one worker recounts DescribeTable's figures for all: they share the store, where the figures are kept
    store = build_store(config, metrics, shared=worker.shared if worker is not None else None,
                        recount=worker is None or worker.index == 0)
    # before opening anything: a bad policies file stops the start
    enforcer = _enforcer(config, store, worker.shared if worker is not None else None)
    try:
        await store.open()
    except (ConfigError, EncryptionError, PolicyError):
        raise  # already one line of their own
    except Exception as exc:  # any reason at all: the start fails with one line (a traceback with debug logging)
        log.debug("opening the store failed", exc_info=True)
        reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        raise StartupError(f"cannot open the {config.backend.kind} backend at {backend_address(config)}: "
                           f"{reason}") from exc
    router = Router(store, metrics, enforcer=enforcer)

    async def metrics_page() -> Reply:
        return 200, METRICS_CONTENT_TYPE, b"", metrics.render()

    metrics_route: dict[tuple[bytes, bytes], Route] = {(b"GET", b"/metrics"): (METRICS_ACTION, metrics_page)}
    routes = dict(metrics_route)
    admin = getattr(store, "admin_routes", None)
    if admin is not None:
        routes.update(admin())
    s = config.server
    limits = ServerLimits(max_body=s.max_body_bytes, max_header=s.max_header_bytes,
                          request_timeout=s.request_timeout, idle_timeout=s.idle_timeout,
                          max_connections=s.max_connections)
    private: Server | None = None
    if worker is not None:  # siblings reach this worker's own routes here; the public ones answer for all
        private = Server(router, limits, routes, data_plane=False)
        await private.start_unix(socket_path(worker.run_dir, worker.index))
        routes = fanout_routes(worker, routes, METRICS_CONTENT_TYPE)
        metrics_route = fanout_routes(worker, metrics_route, METRICS_CONTENT_TYPE)
    server = Server(router, limits, routes, verifier=_verifier(config),
                    authorize=enforcer.admit if enforcer is not None else allow_all,
                    cors=Cors(s.cors_origins) if s.cors_origins else None)
    # /metrics unsigned on a listener of its own (e.g. loopback only), for scrapers that cannot sign
    metrics_server = Server(router, limits, metrics_route, data_plane=False) if s.metrics_listen else None
    if worker is not None:
        server.identity = worker.identity
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # A full cache holds ~100k small entries; the cyclic GC walking them all is a pause of hundreds of ms.
    # Objects from startup never become garbage (freeze them) and young collections run less often.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    shared_port = worker is not None
    try:
        addresses = await server.start(s.host, s.port, ssl=tls, reuse_port=shared_port)
    except OSError as exc:
        await store.close()
        raise listen_error(s.host, s.port, exc) from exc
    if metrics_server is not None and s.metrics_listen is not None:
        bound = await metrics_server.start(*metrics_address(s.metrics_listen), reuse_port=shared_port)
        log.info("metrics listening on %s", ", ".join(f"http://{h}:{p}/metrics" for h, p in bound))
        exposed = [h for h, _ in bound if not _local(h)]
        if exposed and s.auth != "none":  # signing is on, yet this page is open to whoever reaches the address
            log.warning("metrics_listen %s serves /metrics unsigned beyond loopback and private networks: table "
                        "names and traffic are readable there; bind it to 127.0.0.1 or a private address",
                        s.metrics_listen)
    host, port = addresses[0][0], addresses[0][1]
    router.address = f"{'localhost' if host in ('0.0.0.0', '::') else host}:{port}"
    log.info("accelerator listening on %s (backend %s, cache %s)",
             ", ".join(f"{h}:{p}" for h, p in addresses), config.backend.kind,
             "on" if config.cache.enabled else "off")
    scheme = "https" if tls is not None else "http"
    if worker is None:
        print(f"accelerator listening on {scheme}://{addresses[0][0]}:{addresses[0][1]}", flush=True)
    else:
        worker.ready()
    try:
        await stop.wait()
    finally:
        log.info("shutting down: draining in-flight requests")
        await server.shutdown(s.shutdown_grace)
        if private is not None:
            await private.shutdown(0)
        if metrics_server is not None:
            await metrics_server.shutdown(0)
        await store.close()
        log.info("stopped")


def run(config: Config, worker: WorkerContext | None = None) -> None:
    """Run the server on uvloop until a signal stops it."""
    import uvloop

    prepare_data_dir(config)
    uvloop.run(serve(config, worker=worker))
