"""What encryption at rest costs: GetItem misses (ConsistentRead) and PutItem with and without a key file, side by side.

One run starts two accelerator servers on SQLite, identical but for ``[backend] encryption_key_file``, both
pinned with ``taskset`` to the same vCPU as this client, and alternates rounds between them so drift of the
machine hits both alike. A raw socket client sends one request at a time on a keep-alive connection.

    python -m bench.encryption_cost [--cpu 0] [--keys 2000] [--requests 4000] [--rounds 4] [--write]

Cases (each on both servers):
    consistent   GetItem with ConsistentRead=true: bypasses the cache, one SQLite read (+ one open when sealed)
    put          PutItem of an existing key with a new value: one SQLite commit (+ one open and one seal)
    hit          GetItem answered from the item cache: never reaches the codec (the cache holds plaintext)
Also, in process: the codec alone, seal and open of the same item (µs per call).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import timeit
from collections import Counter
from pathlib import Path

import orjson

from accelerator.encryption import KeyRing, generate_key
from accelerator.encryption.codec import seal, unseal
from bench.cache_hit import TABLE, RawClient, get_body, item, load, pct, start
from bench.results import write_section

CASES = {"consistent": "GetItem, ConsistentRead (SQLite read)", "put": "PutItem (SQLite commit)",
         "hit": "GetItem, cache hit"}


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.encryption_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--cpu", type=int, default=0, help="the vCPU both servers and this client are pinned to")
    parser.add_argument("--keys", type=int, default=2000, help="items loaded")
    parser.add_argument("--requests", type=int, default=4000, help="requests per case and server")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--write", action="store_true", help="write the encryption-cost section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {args.cpu})
    work = Path(tempfile.mkdtemp(prefix="bench-encryption-"))
    (work / "key").write_text(generate_key() + "\n")
    procs, clients = [], {}
    try:
        for name, extra in (("plain", ""), ("sealed", f'encryption_key_file = "{work / "key"}"\n')):
            config = work / f"{name}.toml"
            config.write_text(f'[backend]\nkind = "sqlite"\ndata_dir = "{work / name}"\n{extra}'
                              '[cache]\nenabled = true\n')
            proc, port = start([sys.executable, "-m", "accelerator.cli", "serve", "--config", str(config),
                                "--port", "0", "--log-level", "warning"], args.cpu, rb":(\d+)\s*$",
                               work / f"{name}.log")
            procs.append(proc)
            clients[name] = RawClient("127.0.0.1", port)
        return run(args, clients)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(15)


def run(args: argparse.Namespace, clients: dict[str, RawClient]) -> int:
    for client in clients.values():
        load(client, args.keys)
    per_round = args.requests // args.rounds
    consistent = [get_body(i % args.keys, True) for i in range(per_round)]
    hits = [get_body(i % 100) for i in range(per_round)]
    samples: dict[tuple[str, str], list[float]] = {(s, c): [] for s in clients for c in CASES}
    statuses: Counter[int] = Counter()
    for client in clients.values():  # warm-up: code paths, the SQLite page cache, the item cache for hits
        timed(client, "GetItem", consistent[:1000], Counter())
        timed(client, "GetItem", hits[:200], Counter())
    for round_no in range(args.rounds):
        puts = [put_body(i % args.keys, round_no) for i in range(per_round)]
        for server, client in clients.items():
            samples[(server, "consistent")] += timed(client, "GetItem", consistent, statuses)
            samples[(server, "put")] += timed(client, "PutItem", puts, statuses)
            samples[(server, "hit")] += timed(client, "GetItem", hits, statuses)
    assert set(statuses) == {200}, statuses
    sealing, opening = codec_cost()
    print(f"one keep-alive connection, raw socket client; client and both servers pinned to vCPU {args.cpu}; "
          f"SQLite; item ~{len(orjson.dumps(item(1)))} B of JSON\n")
    print(f"{'case':<40}{'plain p50':>11}{'sealed p50':>12}{'plain p99':>11}{'sealed p99':>12}{'p50 +us':>9}")
    for case, label in CASES.items():
        a, b = samples[("plain", case)], samples[("sealed", case)]
        print(f"{label:<40}{pct(a, 50):>11.1f}{pct(b, 50):>12.1f}{pct(a, 99):>11.1f}{pct(b, 99):>12.1f}"
              f"{pct(b, 50) - pct(a, 50):>9.1f}")
    print(f"\ncodec in process: seal {sealing:.2f} µs, open {opening:.2f} µs per item")
    if args.write:
        write_section("encryption-cost", markdown(args, samples, sealing, opening))
        print("wrote the encryption-cost section of bench/RESULTS.md")
    return 0


def markdown(args: argparse.Namespace, samples: dict[tuple[str, str], list[float]], sealing: float,
             opening: float) -> str:
    lines = ["## Encryption at rest: cost per request (AES-256-GCM, SQLite)", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M')} with `python -m bench.encryption_cost --cpu {args.cpu} "
             f"--keys {args.keys} --requests {args.requests} --rounds {args.rounds} --write`: two servers identical "
             f"but for `encryption_key_file`, client and both pinned with taskset to vCPU {args.cpu}, rounds "
             f"alternating; load average {os.getloadavg()[0]:.1f}. Latencies in µs, one request at a time.", "",
             "<!-- encryption-cost-table:start -->",
             "| case | plain p50 | sealed p50 | plain p99 | sealed p99 |", "|---|---:|---:|---:|---:|"]
    for case, label in CASES.items():
        a, b = samples[("plain", case)], samples[("sealed", case)]
        lines.append(f"| {label} | {pct(a, 50):.1f} | {pct(b, 50):.1f} | {pct(a, 99):.1f} | {pct(b, 99):.1f} |")
    lines += [f"| codec alone, in process (best of 5): seal / open one item | | {sealing:.2f} / {opening:.2f} | | |",
              "<!-- encryption-cost-table:end -->"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
