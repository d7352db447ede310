"""What encryption at rest costs: GetItem misses (ConsistentRead) and PutItem with and without a key file, side by side.

Per backend, one run starts two accelerator servers identical but for ``[backend] encryption_key_file``, both
pinned with ``taskset`` to the same vCPU as this client, and alternates rounds between them so drift of the
machine hits both alike. A raw socket client sends one request at a time on a keep-alive connection.
PostgreSQL and Redis runs use a schema / key prefix of their own, dropped at the end.

    python -m bench.encryption_cost [--cpu 0] [--backends sqlite[,postgres,redis]] [--keys 2000] [--requests 2000]
                                    [--rounds 4] [--write]

Cases (each on both servers):
    consistent   GetItem with ConsistentRead=true: bypasses the cache, one backend read (+ one open when sealed)
    put          PutItem of an existing key with a new value: one backend commit (+ one open and one seal)
    hit          GetItem answered from the item cache: never reaches the codec (the cache holds plaintext)
Also, in process: the codec alone, seal and open of the same item (µs per call).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import timeit
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from accelerator.encryption import KeyRing, generate_key
from accelerator.encryption.codec import seal, unseal
from bench.cache_hit import TABLE, RawClient, get_body, item, load, pct, start
from loadtest.results_md import write_section

CASES = {"consistent": "GetItem, ConsistentRead", "put": "PutItem", "hit": "GetItem, cache hit"}


def timed(client: RawClient, op: str, bodies: list[bytes], statuses: Counter[int]) -> list[float]:
    out = []
    clock = time.perf_counter_ns
    for body in bodies:
        t0 = clock()
        status, _, _ = client.request(op, body)
        out.append((clock() - t0) / 1000)
        statuses[status] += 1
    return out


def put_body(i: int, round_no: int) -> bytes:
    value = {**item(i), "visits": {"N": str(round_no)}}
    return orjson.dumps({"TableName": TABLE, "Item": value})


def codec_cost() -> tuple[float, float]:
    """(seal µs, open µs) of one bench item in process."""
    ring = KeyRing((os.urandom(32),))
    plain = orjson.dumps(item(1))
    sealed = seal(ring, TABLE, b"user#000001", b"", plain)
    n = 20000  # best of 5 runs: the least the machine's other work let through
    sealing = min(timeit.repeat(lambda: seal(ring, TABLE, b"user#000001", b"", plain), number=n, repeat=5))
    opening = min(timeit.repeat(lambda: unseal(ring, TABLE, b"user#000001", b"", sealed), number=n, repeat=5))
    return sealing / n * 1e6, opening / n * 1e6


def _section(kind: str, work: Path, name: str) -> tuple[str, dict[str, Any]]:
    """The [backend] lines of one server and the options of its storage (to drop what the run made)."""
    tag = f"bench_enc_{os.getpid()}_{name}"
    if kind == "sqlite":
        return f'kind = "sqlite"\ndata_dir = "{work / kind / name}"\n', {}
    if kind == "postgres":
        dsn = os.environ.get("ACCEL_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
        return f'kind = "postgres"\ndsn = "{dsn}"\nschema = "{tag}"\n', {"dsn": dsn, "schema": tag}
    url = os.environ.get("ACCEL_REDIS_URL", "redis://127.0.0.1:6379/0")
    return f'kind = "redis"\nurl = "{url}"\nprefix = "{tag}"\n', {"url": url, "prefix": tag}


def _drop(kind: str, options: dict[str, Any]) -> None:
    """Remove this run's schema / keys from a shared PostgreSQL or Redis (nothing else)."""
    if not options:
        return
    from backends import open_storage

    async def drop() -> None:
        storage: Any = open_storage(kind, **options)
        await storage.open()
        try:
            await storage.drop()
        finally:
            await storage.close()

    asyncio.run(drop())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.encryption_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--cpu", type=int, default=0, help="the vCPU both servers and this client are pinned to")
    parser.add_argument("--backends", default="sqlite",
                        help="comma-separated: sqlite, postgres (ACCEL_PG_DSN), redis (ACCEL_REDIS_URL); each adds ~30 s")
    parser.add_argument("--keys", type=int, default=2000, help="items loaded")
    parser.add_argument("--requests", type=int, default=2000, help="requests per case and server")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--write", action="store_true", help="write the encryption-cost section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {args.cpu})
    work = Path(tempfile.mkdtemp(prefix="bench-encryption-"))
    (work / "key").write_text(generate_key() + "\n")
    (work / "key").chmod(0o600)
    samples: dict[tuple[str, str, str], list[float]] = {}
    backends = [b for b in args.backends.split(",") if b]
    for kind in backends:
        if kind not in ("sqlite", "postgres", "redis"):
            parser.error(f"unknown backend {kind!r}")
        samples.update(measure(args, kind, work))
    report(args, backends, samples)
    return 0


def measure(args: argparse.Namespace, kind: str, work: Path) -> dict[tuple[str, str, str], list[float]]:
    """Both servers of one backend started, measured side by side, stopped and their data dropped."""
    procs, clients, made = [], {}, []
    try:
        for name, extra in (("plain", ""), ("sealed", f'encryption_key_file = "{work / "key"}"\n')):
            lines, options = _section(kind, work, name)
            made.append(options)
            config = work / f"{kind}-{name}.toml"
            config.write_text(f"[backend]\n{lines}{extra}[cache]\nenabled = true\n")
            proc, port = start([sys.executable, "-m", "accelerator.cli", "serve", "--config", str(config),
                                "--port", "0", "--log-level", "warning"], args.cpu, rb":(\d+)\s*$",
                               work / f"{kind}-{name}.log")
            procs.append(proc)
            clients[name] = RawClient("127.0.0.1", port)
        return {(kind, server, case): values for (server, case), values in run(args, clients).items()}
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(15)
        for options in made:
            _drop(kind, options)


def run(args: argparse.Namespace, clients: dict[str, RawClient]) -> dict[tuple[str, str], list[float]]:
    for client in clients.values():
        load(client, args.keys)
    per_round = args.requests // args.rounds
    consistent = [get_body(i % args.keys, True) for i in range(per_round)]
    hits = [get_body(i % 100) for i in range(per_round)]
    samples: dict[tuple[str, str], list[float]] = {(s, c): [] for s in clients for c in CASES}
    statuses: Counter[int] = Counter()
    for client in clients.values():  # warm-up: code paths, the backend's caches, the item cache for hits
        timed(client, "GetItem", consistent[:1000], Counter())
        timed(client, "GetItem", hits[:200], Counter())
    for round_no in range(args.rounds):
        puts = [put_body(i % args.keys, round_no) for i in range(per_round)]
        for server, client in clients.items():
            samples[(server, "consistent")] += timed(client, "GetItem", consistent, statuses)
            samples[(server, "put")] += timed(client, "PutItem", puts, statuses)
            samples[(server, "hit")] += timed(client, "GetItem", hits, statuses)
    assert set(statuses) == {200}, statuses
    return samples


def report(args: argparse.Namespace, backends: list[str], samples: dict[tuple[str, str, str], list[float]]) -> None:
    sealing, opening = codec_cost()
    print(f"one keep-alive connection, raw socket client; client and both accelerators pinned to vCPU {args.cpu}; "
          f"item ~{len(orjson.dumps(item(1)))} B of JSON\n")
    print(f"{'backend':<10}{'case':<24}{'plain p50':>11}{'sealed p50':>12}{'p50 +us':>9}{'plain p99':>11}"
          f"{'sealed p99':>12}")
    for kind in backends:
        for case, label in CASES.items():
            a, b = samples[(kind, "plain", case)], samples[(kind, "sealed", case)]
            print(f"{kind:<10}{label:<24}{pct(a, 50):>11.1f}{pct(b, 50):>12.1f}{pct(b, 50) - pct(a, 50):>9.1f}"
                  f"{pct(a, 99):>11.1f}{pct(b, 99):>12.1f}")
    print(f"\ncodec in process: seal {sealing:.2f} µs, open {opening:.2f} µs per item")
    if args.write:
        write_section("encryption-cost", markdown(args, backends, samples, sealing, opening))
        print("wrote the encryption-cost section of bench/RESULTS.md")


def markdown(args: argparse.Namespace, backends: list[str], samples: dict[tuple[str, str, str], list[float]],
             sealing: float, opening: float) -> str:
    lines = ["## Encryption at rest: cost per request (AES-256-GCM)", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M')} with `python -m bench.encryption_cost --cpu {args.cpu} "
             f"--backends {','.join(backends)} --keys {args.keys} --requests {args.requests} --rounds {args.rounds} "
             f"--write`: per backend, two accelerators identical but for `encryption_key_file`, both and the client "
             f"pinned with taskset to vCPU {args.cpu} (PostgreSQL and Redis are not), rounds alternating; load "
             f"average {os.getloadavg()[0]:.1f}. Latencies in µs, one request at a time.", "",
             "<!-- encryption-cost-table:start -->",
             "| backend | case | plain p50 | sealed p50 | p50 difference | plain p99 | sealed p99 |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for kind in backends:
        for case, label in CASES.items():
            a, b = samples[(kind, "plain", case)], samples[(kind, "sealed", case)]
            lines.append(f"| {kind} | {label} | {pct(a, 50):.1f} | {pct(b, 50):.1f} | {pct(b, 50) - pct(a, 50):+.1f} "
                         f"| {pct(a, 99):.1f} | {pct(b, 99):.1f} |")
    lines += [f"| (in process) | codec alone, best of 5: seal / open one item | | {sealing:.2f} / {opening:.2f} "
              "| | | |", "<!-- encryption-cost-table:end -->"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
