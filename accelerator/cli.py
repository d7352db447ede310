"""Command line: ``accelerator serve``, ``cache``, ``export``, ``loadtest``, ``keygen``, ``rekey``."""

from __future__ import annotations

import argparse
import logging
import os
import ssl
import sys
import traceback
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["main"]


def _serve(args: argparse.Namespace) -> int:
    import tomllib

    from accelerator.app import check_backend, check_encryption, run
    from accelerator.config import ConfigError, load_config
    from accelerator.encryption import EncryptionError
    from accelerator.policy import PolicyError
    from accelerator.startup import StartupError
    from accelerator.workers import supervise, worker_count

    try:
        config = load_config(args.config).override(
            host=args.host, port=args.port, backend=args.backend, data_dir=args.data_dir,
            upstream_url=args.upstream_url, cache=False if args.no_cache else None,
            workers=args.workers,
        )
        try:
            check_backend(config)
            count = worker_count(config.server.workers, config.backend.kind)
        except ConfigError as exc:
            raise ConfigError(f"{args.config}: {exc}" if args.config else str(exc)) from None
        logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if count > 1:
            check_encryption(config)  # a key file that does not fit the store: one line here, not one per worker
            return supervise(config, count)
        run(config)
    except (ConfigError, tomllib.TOMLDecodeError, EncryptionError, PolicyError) as exc:
        # a wrong config value, certificate, key file, store or policies file: one line, no traceback
        _fail(args, exc)
        return 2
    except StartupError as exc:  # a port in use, a backend that does not answer, a data directory
        _fail(args, exc)
        return 1
    return 0


def _fail(args: argparse.Namespace, exc: BaseException) -> None:
    if args.log_level == "debug":
        traceback.print_exception(exc, file=sys.stderr)
    print(f"accelerator: error: {exc}", file=sys.stderr, flush=True)


def _workers_arg(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError('a positive integer or "auto"') from None


def _keygen(args: argparse.Namespace) -> int:
    from accelerator.encryption import generate_key

    print(generate_key())
    return 0


def _rekey(args: argparse.Namespace) -> int:
    import asyncio
    import tomllib

    from accelerator.app import build_storage
    from accelerator.config import ConfigError, load_config
    from accelerator.encryption import EncryptedStorage, EncryptionError, rekey
    from accelerator.startup import StartupError, backend_address, prepare_data_dir

    logging.basicConfig(level="WARNING", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
        if config.backend.encryption_key_file is None or config.backend.kind == "dynamodb":
            raise ConfigError("rekey needs a storage backend with [backend] encryption_key_file")
        prepare_data_dir(config)
        storage = build_storage(config, migrate=True)
    except (ConfigError, tomllib.TOMLDecodeError, EncryptionError, StartupError) as exc:
        print(f"accelerator: error: {exc}", file=sys.stderr, flush=True)
        return 2
    assert isinstance(storage, EncryptedStorage)

    async def run() -> int:
        try:
            await storage.open()
        except EncryptionError:
            raise
        except Exception as exc:  # the backend does not answer: one line, as when serving
            reason = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            raise StartupError(f"cannot open the {config.backend.kind} backend at {backend_address(config)}: "
                               f"{reason}") from exc
        try:
            report = await rekey(storage, lambda line: print(line, flush=True))
        finally:
            await storage.close()
        return 1 if report.failed else 0

    try:
        return asyncio.run(run())
    except (EncryptionError, StartupError) as exc:
        print(f"accelerator: error: {exc}", file=sys.stderr, flush=True)
        return 2


def _admin_request(args: argparse.Namespace, method: str, path: str) -> urllib.request.Request:
    """The admin request, signed when credentials are given (options, else the AWS environment variables)."""
    from accelerator.client.sigv4 import Credentials, SigV4Signer, credentials_from_env

    url = args.url.rstrip("/")
    host = urllib.parse.urlsplit(url).netloc
    headers = {"Host": host}
    credentials = (Credentials(args.access_key, args.secret_key) if args.access_key and args.secret_key
                   else credentials_from_env())
    if credentials is not None:
        headers.update(SigV4Signer(credentials, args.region).sign(host, {}, b"", method=method, path=path))
    return urllib.request.Request(url + path, data=b"" if method == "POST" else None, method=method,
                                  headers=headers)


def _cache(args: argparse.Namespace) -> int:
    table = urllib.parse.quote(args.table, safe="") if args.table else None
    if args.action == "stats":
        method, path = "GET", "/admin/cache" + (f"/tables/{table}" if table else "")
    else:
        method, path = "POST", "/admin/cache/flush" + (f"/{table}" if table else "")
    context = ssl.create_default_context(cafile=args.ca_file) if args.ca_file else None
    try:
        with urllib.request.urlopen(_admin_request(args, method, path), timeout=10, context=context) as response:
            sys.stdout.write(response.read().decode())
    except urllib.error.HTTPError as exc:  # the server's own error (e.g. a signature refused): show it
        print(f"accelerator: {method} {path}: HTTP {exc.code}: {exc.read().decode(errors='replace')}",
              file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"accelerator: {method} {args.url.rstrip('/')}{path}: {exc.reason}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:  # not a URL at all, or a connection that broke mid-answer
        print(f"accelerator: error: --url {args.url!r}: {exc} (expected http(s)://host:port)", file=sys.stderr)
        return 2
    return 0


def _loadtest(options: list[str]) -> int:
    # The runner owns its options (scenario, rate, users, warm-up, CPU pinning, rate sweeps, ...).
    from loadtest.runner import build_parser as loadtest_parser
    from loadtest.runner import main as run_loadtest

    parser = loadtest_parser()
    parser.prog = "accelerator loadtest"
    return run_loadtest(parser.parse_args(options))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="accelerator",
        description="A DAX-like cache accelerator that speaks DynamoDB's JSON API (point boto3's "
                    "endpoint_url at it).")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the accelerator server",
                           description="Run the server. Values on the command line override the config file.")
    serve.add_argument("--config", help="TOML config file (default: built-in defaults, SQLite under ./data)")
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default 8111; 0 picks a free port)")
    serve.add_argument("--backend", choices=["memory", "sqlite", "postgres", "redis", "redis-cluster", "dynamodb"],
                       help="storage backend")
    serve.add_argument("--data-dir", help="directory for the SQLite file (default ./data)")
    serve.add_argument("--upstream-url", help="DynamoDB endpoint URL for the dynamodb backend")
    serve.add_argument("--no-cache", action="store_true", help="serve without the cache layer")
    serve.add_argument("--workers", type=_workers_arg,
                       help='worker processes on the port (default 1; "auto": one per available CPU)')
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(func=_serve)

    cache = sub.add_parser("cache", help="show cache statistics or flush cached entries of a running server")
    cache.add_argument("action", choices=["stats", "flush"])
    cache.add_argument("--url", default="http://127.0.0.1:8111", help="server URL (https://... with TLS)")
    cache.add_argument("--table", help="only this table: its cache state (stats) or its entries (flush)")
    cache.add_argument("--access-key", help="sign with this access key id (default: $AWS_ACCESS_KEY_ID)")
    cache.add_argument("--secret-key", help="... and this secret access key (default: $AWS_SECRET_ACCESS_KEY)")
    cache.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                       or "us-east-1", help="region in the signature's scope (default: $AWS_REGION or us-east-1)")
    cache.add_argument("--ca-file", help="CA bundle (PEM) to verify an https:// server's certificate")
    cache.set_defaults(func=_cache)

    from accelerator.export_cli import add_parser as add_export

    add_export(sub)

    keygen = sub.add_parser("keygen", help="print a new random AES-256 key (one line of a key file)")
    keygen.set_defaults(func=_keygen)

    rekey = sub.add_parser("rekey", help="seal every stored value again with the key file's newest key",
                           description="Re-seal all data (items, index entries, records) with the first key of "
                                       "[backend] encryption_key_file; safe while servers run. Also seals a store "
                                       "written without encryption (servers stopped).")
    rekey.add_argument("--config", required=True, help="the servers' TOML config file")
    rekey.set_defaults(func=_rekey)

    load = sub.add_parser("loadtest", add_help=False,
                          help="run a Locust scenario headless and write results/ (all options: "
                               "accelerator loadtest --help)")
    load.set_defaults(func=None)  # dispatched in main(): the runner parses its own options
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["loadtest"]:
        return _loadtest(argv[1:])
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
