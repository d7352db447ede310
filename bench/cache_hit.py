"""GetItem latency on one keep-alive connection: cache hits, misses and ConsistentRead on SQLite, and the floor.

One run starts two servers, each pinned with ``taskset`` to the same vCPU as this client (so no
cross-vCPU wake-up is measured): the accelerator on SQLite with its cache, and ``bench.floor_server``
(uvloop + httptools + orjson answering GetItem from a dict: the least any Python server does). A raw
socket client sends one request at a time and times each round trip.

    python -m bench.cache_hit [--cpu 0] [--keys 5000] [--requests 20000] [--rounds 4]

Cases:
    floor        GetItem on the floor server
    hit          GetItem answered from the item cache (x-accelerator-cache: hit)
    miss         GetItem of an existing item not in the cache (flushed before each round): a SQLite read + fill
    consistent   GetItem with ConsistentRead=true: bypasses the cache, one SQLite read
Hits and the floor run in alternating rounds so drift of the machine hits both alike.
"""

from __future__ import annotations

import argparse
import os
import re
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from loadtest.results_md import write_section
from loadtest.wire import Connection

ROOT = Path(__file__).resolve().parent.parent
TABLE = "bench_cache"
TARGET = b"DynamoDB_20120810."


class RawClient:
    """(status, x-accelerator-cache, body) answers over ``loadtest.wire.Connection`` (one keep-alive socket)."""

    def __init__(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        scheme = "https" if ssl_context is not None else "http"
        self.conn = Connection(f"{scheme}://{host}:{port}", ssl_context=ssl_context)

    def request(self, op: str, body: bytes) -> tuple[int, bytes, bytes]:
        reply = self.conn.request(op, body)
        return reply.status, reply.headers.get("x-accelerator-cache", "").encode(), reply.body

    def close(self) -> None:
        self.conn.close()


def start(cmd: list[str], cpu: int, pattern: bytes, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(["taskset", "-c", str(cpu), *cmd], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=open(log, "wb"), env={**os.environ, "PYTHONUNBUFFERED": "1"})  # noqa: SIM115
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(pattern, line)
    if match is None:
        proc.kill()
        raise RuntimeError(f"{cmd} did not start: {line!r}\n{log.read_text()}")
    return proc, int(match.group(1))


def item(i: int) -> dict[str, Any]:
    return {"pk": {"S": f"user#{i:06d}"}, "name": {"S": f"name {i}"}, "email": {"S": f"user{i}@example.com"},
            "visits": {"N": str(i * 7)}, "active": {"BOOL": i % 2 == 0},
            "tags": {"SS": ["a", "b", f"t{i % 10}"]}}


def get_body(i: int, consistent: bool = False) -> bytes:
    body: dict[str, Any] = {"TableName": TABLE, "Key": {"pk": {"S": f"user#{i:06d}"}}}
    if consistent:
        body["ConsistentRead"] = True
    return orjson.dumps(body)


def load(client: RawClient, keys: int) -> None:
    spec = {"TableName": TABLE, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST"}
    client.request("CreateTable", orjson.dumps(spec))
    for start in range(0, keys, 25):
        writes = [{"PutRequest": {"Item": item(i)}} for i in range(start, min(start + 25, keys))]
        status, _, body = client.request("BatchWriteItem", orjson.dumps({"RequestItems": {TABLE: writes}}))
        assert status == 200, body


def timed(client: RawClient, bodies: list[bytes], statuses: Counter[bytes]) -> list[float]:
    out = []
    clock = time.perf_counter_ns
    for body in bodies:
        t0 = clock()
        status, cache, _ = client.request("GetItem", body)
        out.append((clock() - t0) / 1000)
        statuses[cache or (b"http%d" % status if status != 200 else b"-")] += 1
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 10) - 1] if len(values) > 1 else values[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cache_hit", description=__doc__.split("\n")[0])
    parser.add_argument("--cpu", type=int, default=0, help="the vCPU both servers and this client are pinned to")
    parser.add_argument("--keys", type=int, default=5000, help="items loaded (each read once per round as a miss)")
    parser.add_argument("--requests", type=int, default=20000, help="hit / floor / consistent requests each")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--write", action="store_true",
                        help="write the table into bench/RESULTS.md (section cache-hit) and the README")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {args.cpu})
    work = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    config = work / "config.toml"
    config.write_text(f'[backend]\nkind = "sqlite"\ndata_dir = "{work / "data"}"\n[cache]\nenabled = true\n')
    accel, accel_port = start([sys.executable, "-m", "accelerator.cli", "serve", "--config", str(config), "--port",
                               "0", "--log-level", "warning"], args.cpu, rb":(\d+)\s*$", work / "accel.log")
    floor, floor_port = start([sys.executable, "-m", "bench.floor_server", "--port", "0"], args.cpu,
                              rb":(\d+)\s*$", work / "floor.log")
    try:
        return run(args, RawClient("127.0.0.1", accel_port), RawClient("127.0.0.1", floor_port), accel_port)
    finally:
        for proc in (accel, floor):
            proc.terminate()
            proc.wait(15)


def run(args: argparse.Namespace, accel: RawClient, floor: RawClient, accel_port: int) -> int:
    load(accel, args.keys)
    load(floor, args.keys)
    import urllib.request

    def flush() -> None:
        request = urllib.request.Request(f"http://127.0.0.1:{accel_port}/admin/cache/flush", data=b"", method="POST")
        urllib.request.urlopen(request, timeout=10).read()

    statuses: dict[str, Counter[bytes]] = {c: Counter() for c in ("floor", "hit", "miss", "consistent")}
    samples: dict[str, list[float]] = {c: [] for c in statuses}
    per_round = args.requests // args.rounds
    bodies = [get_body(i % args.keys) for i in range(per_round)]
    cold = [get_body(i) for i in range(min(args.keys, per_round))]  # each key once: all misses after a flush
    consistent = [get_body(i % args.keys, True) for i in range(per_round)]
    timed(floor, bodies[:2000], Counter())  # warm-up
    timed(accel, bodies[:2000], Counter())
    timed(accel, consistent[:2000], Counter())
    for _ in range(args.rounds):
        samples["floor"] += timed(floor, bodies, statuses["floor"])
        flush()
        samples["miss"] += timed(accel, cold, statuses["miss"])
        samples["hit"] += timed(accel, bodies, statuses["hit"])
        samples["consistent"] += timed(accel, consistent, statuses["consistent"])
    floor_p50, floor_p99 = pct(samples["floor"], 50), pct(samples["floor"], 99)
    print(f"GetItem round trips, one keep-alive connection, raw socket client; client and both servers pinned "
          f"with taskset to vCPU {args.cpu}; accelerator backend: SQLite; item ~{len(orjson.dumps(item(1)))} B "
          "of JSON\n")
    print(f"{'case':<12}{'n':>8}{'p50 us':>10}{'p99 us':>10}{'p50/floor':>11}{'p99/floor':>11}  x-accelerator-cache")
    for case in ("floor", "hit", "miss", "consistent"):
        values = samples[case]
        p50, p99 = pct(values, 50), pct(values, 99)
        seen = ", ".join(f"{k.decode()}={v}" for k, v in sorted(statuses[case].items()))
        print(f"{case:<12}{len(values):>8}{p50:>10.1f}{p99:>10.1f}{p50 / floor_p50:>11.2f}{p99 / floor_p99:>11.2f}  "
              f"{seen}")
    ratio = pct(samples["hit"], 50) / floor_p50
    print(f"\nhit p50 is {ratio:.2f}x the floor (target: at most 2x): {'met' if ratio <= 2 else 'NOT met'}")
    if args.write:
        write_section("cache-hit", markdown(args, samples))
        print("wrote the cache-hit section of bench/RESULTS.md")
    return 0


CASES = {"floor": "floor (uvloop + httptools + orjson, GetItem from a dict)",
         "hit": "cache hit (each key once after its fill: the full path, not the stored-reply one)",
         "miss": "cache miss (SQLite read, then fill)", "consistent": "ConsistentRead (bypass, SQLite read)"}


def markdown(args: argparse.Namespace, samples: dict[str, list[float]]) -> str:
    floor_p50 = pct(samples["floor"], 50)
    lines = ["## GetItem on one keep-alive connection (raw socket client)", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M')} with `python -m bench.cache_hit --cpu {args.cpu} "
             f"--keys {args.keys} --requests {args.requests} --rounds {args.rounds} --write`: client, accelerator "
             f"(SQLite) and floor pinned with taskset to vCPU {args.cpu}; load average {os.getloadavg()[0]:.1f}.",
             "", "<!-- cache-hit-table:start -->", "| case | p50 µs | p99 µs | p50 / floor |", "|---|---:|---:|---:|"]
    for case, label in CASES.items():
        values = samples[case]
        lines.append(f"| {label} | {pct(values, 50):.1f} | {pct(values, 99):.1f} | {pct(values, 50) / floor_p50:.2f} |")
    lines.append("<!-- cache-hit-table:end -->")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
