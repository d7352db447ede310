"""What a stream costs writes: PutItem/s into a table without and with a stream (the change log), side by side.

One server on the chosen backend holds two tables, identical but for ``StreamSpecification``
(NEW_AND_OLD_IMAGES). The server is pinned to the last vCPU, this client to the others. ``--writers`` threads each keep one keep-alive connection and send PutItem back to back
(a new value of an existing key, so every write is logged as a MODIFY with both images); rounds alternate
between the tables so drift of the machine hits both alike.

    python -m bench.stream_cost [--backend sqlite|postgres|redis] [--writers 8] [--seconds 2.5] [--rounds 3]
                                [--write]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from bench.cache_hit import RawClient, item, start
from loadtest.results_md import write_section
from tests.e2e_backends import E2E_BACKENDS
from tests.server_process import write_config

TABLES = {"plain": "bench_stream_off", "stream": "bench_stream_on"}
KEYS = 1000


def create(client: RawClient, name: str, stream: bool) -> None:
    body: dict[str, Any] = {"TableName": name, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                            "BillingMode": "PAY_PER_REQUEST"}
    if stream:
        body["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    status, _, reply = client.request("CreateTable", orjson.dumps(body))
    assert status == 200, reply
    for i in range(KEYS):
        client.request("PutItem", orjson.dumps({"TableName": name, "Item": item(i)}))


def writes_per_second(port: int, table: str, writers: int, seconds: float) -> float:
    """PutItem/s of ``writers`` connections writing back to back for ``seconds``."""
    counts = [0] * writers
    start_at = threading.Barrier(writers + 1)
    stop = threading.Event()

    def writer(n: int) -> None:
        client = RawClient("127.0.0.1", port)
        bodies = [orjson.dumps({"TableName": table, "Item": {**item(i), "visits": {"N": str(n * 10**6 + i)}}})
                  for i in range(n, KEYS, writers)]
        start_at.wait()
        i = 0
        while not stop.is_set():
            status, _, reply = client.request("PutItem", bodies[i % len(bodies)])
            assert status == 200, reply
            counts[n] += 1
            i += 1
        client.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    start_at.wait()
    began = time.perf_counter()
    time.sleep(seconds)  # the measuring window
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stream_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres", "redis"])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.5, help="length of one measuring round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per table, alternating")
    parser.add_argument("--write", action="store_true", help="write the stream-cost section of bench/RESULTS.md")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    backend = {**E2E_BACKENDS[args.backend](), "data_dir": str(work / "data")}
    config = write_config(work / "config.toml", {"backend": backend, "cache": {"enabled": True}})
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[-1]  # the server on one vCPU, the writers on the others (the same vCPU on a 1-vCPU box)
    os.sched_setaffinity(0, set(cpus[:-1]) or {server_cpu})
    proc, port = start([sys.executable, "-m", "accelerator.cli", "serve", "--config", str(config), "--port", "0",
                        "--log-level", "warning"], server_cpu, rb":(\d+)\s*$", work / "server.log")
    try:
        setup = RawClient("127.0.0.1", port)
        for label, name in TABLES.items():
            create(setup, name, label == "stream")
        rates: dict[str, list[float]] = {label: [] for label in TABLES}
        for _ in range(args.rounds):
            for label, name in TABLES.items():
                rates[label].append(writes_per_second(port, name, args.writers, args.seconds))
    finally:
        proc.terminate()
        proc.wait(15)
    plain, stream = (sorted(rates[label])[len(rates[label]) // 2] for label in TABLES)
    print(f"{args.backend}, {args.writers} writers, {args.rounds} x {args.seconds} s per table: "
          f"without stream {plain:.0f} writes/s, with stream {stream:.0f} writes/s ({stream / plain - 1:+.0%})")
    if args.write:
        write_section(f"stream-cost-{args.backend}", markdown(args, rates))
        print(f"wrote the stream-cost-{args.backend} section of bench/RESULTS.md")
    return 0


def markdown(args: argparse.Namespace, rates: dict[str, list[float]]) -> str:
    plain, stream = (sorted(rates[label])[len(rates[label]) // 2] for label in TABLES)
    return "\n".join([
        f"## Streams: write cost of the change log ({args.backend})", "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} with `python -m bench.stream_cost --backend {args.backend} "
        f"--writers {args.writers} --seconds {args.seconds} --rounds {args.rounds} --write`: one server, two tables "
        f"identical but for a NEW_AND_OLD_IMAGES stream, server pinned to one vCPU and client to the other, PutItem of existing keys back to back on {args.writers} "
        f"keep-alive connections, rounds alternating; load average {os.getloadavg()[0]:.1f}. Median of the rounds.",
        "", f"<!-- stream-cost-{args.backend}-table:start -->",
        "| table | PutItem/s (median) | rounds |", "|---|---:|---|",
        f"| no stream | {plain:.0f} | {', '.join(f'{r:.0f}' for r in rates['plain'])} |",
        f"| stream (NEW_AND_OLD_IMAGES) | {stream:.0f} | {', '.join(f'{r:.0f}' for r in rates['stream'])} |",
        f"<!-- stream-cost-{args.backend}-table:end -->",
    ])


if __name__ == "__main__":
    sys.exit(main())
