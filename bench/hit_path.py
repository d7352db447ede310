"""Server CPU per GetItem hit, in process: the real stack (server, router, cache, engine on the memory backend)
fed the exact bytes wrk sends, through a transport that only counts what is written. No socket, no client,
so the figure is the accelerator's own Python cost per hit, steady even on a busy machine.

    python -m bench.hit_path [--requests 50000] [--rounds 5] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from typing import Any

import orjson

from accelerator.api import Router
from accelerator.cache import CachedStore
from accelerator.cache.shared import SharedGenerations
from accelerator.config import CacheConfig
from accelerator.engine import TableEngine
from accelerator.metrics import Metrics, TimedStore
from accelerator.server import Connection, Server
from backends import open_storage
from bench.floor_server import FloorProtocol, Tables
from loadtest.results_md import wrap, write_section

__all__ = ["main", "build", "run", "wire_request"]

TABLE = "bench_hit"


class _Transport:
    """Counts bytes written; never closes."""

    def __init__(self) -> None:
        self.written = 0
        self.last = b""

    def write(self, data: bytes) -> None:
        self.written += 1
        self.last = data

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


def wire_request(body: bytes, target: bytes = b"GetItem") -> bytes:
    """A request as wrk sends it with bench/getitem.lua."""
    return (b"POST / HTTP/1.1\r\nHost: 127.0.0.1:8111\r\nContent-Type: application/x-amz-json-1.0\r\n"
            b"X-Amz-Target: DynamoDB_20120810." + target + b"\r\nContent-Length: " + str(len(body)).encode() +
            b"\r\n\r\n" + body)


async def build(shared: SharedGenerations | None = None) -> tuple[Server, CachedStore]:
    """The stack over the memory backend with 1,000 items, every one cached (``shared``: as a worker)."""
    metrics = Metrics()
    store = CachedStore(TimedStore(TableEngine(open_storage("memory")), metrics), CacheConfig(), metrics=metrics,
                        shared=shared)
    await store.open()
    await store.call("CreateTable", {
        "TableName": TABLE, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"})
    for i in range(1000):
        await store.call("PutItem", {"TableName": TABLE, "Item": {
            "pk": {"S": f"user#{i:06d}"}, "name": {"S": f"name {i}"}, "email": {"S": f"user{i}@example.com"},
            "visits": {"N": str(i * 7)}, "active": {"BOOL": i % 2 == 0}, "tags": {"SS": ["a", "b", f"t{i % 10}"]}}})
    return Server(Router(store, metrics)), store


def floor_protocol(requests: list[bytes]) -> FloorProtocol:
    """bench.floor_server's protocol holding the same items."""
    tables = Tables()
    tables.create({"TableName": TABLE, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]})
    for i in range(1000):
        tables.call(b"putitem", {"TableName": TABLE, "Item": {
            "pk": {"S": f"user#{i:06d}"}, "name": {"S": f"name {i}"}, "email": {"S": f"user{i}@example.com"},
            "visits": {"N": str(i * 7)}, "active": {"BOOL": i % 2 == 0}, "tags": {"SS": ["a", "b", f"t{i % 10}"]}}})
    return FloorProtocol(tables)


def run(server: Server | None, requests: list[bytes], rounds: int) -> list[float]:
    """CPU microseconds per request, per round: the accelerator's stack, or the floor's when ``server`` is None."""
    conn: Any = Connection(server) if server is not None else floor_protocol(requests)
    transport = _Transport()
    conn.connection_made(transport)
    for data in requests[:2000]:
        conn.data_received(data)
    assert server is None or b"x-accelerator-cache: hit" in transport.last, transport.last
    out = []
    for _ in range(rounds):
        t0 = time.process_time_ns()
        for data in requests:
            conn.data_received(data)
        out.append((time.process_time_ns() - t0) / 1000 / len(requests))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hit_path", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=50000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one round instead")
    parser.add_argument("--write", action="store_true", help="write the figures into bench/RESULTS.md (hit-path)")
    args = parser.parse_args(argv)

    async def go() -> None:
        server, _ = await build()
        bodies = [orjson.dumps({"TableName": TABLE, "Key": {"pk": {"S": f"user#{i % 1000:06d}"}}})
                  for i in range(args.requests)]
        requests = [wire_request(b) for b in bodies]
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            run(server, requests, 1)
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
            return
        worker, _ = await build(SharedGenerations())
        per, floor, shared = [], [], []
        for _ in range(args.rounds):  # alternating, so drift of a busy machine hits all three alike
            per += run(server, requests, 1)
            floor += run(None, requests, 1)
            shared += run(worker, requests, 1)
        print(f"CPU per GetItem (in process, no socket; best of {args.rounds} rounds of {args.requests}): "
              f"accelerator hit {min(per):.2f} us, floor {min(floor):.2f} us, ratio {min(per) / min(floor):.2f}; "
              f"as a worker (shared generations checked on every hit) {min(shared):.2f} us "
              f"({min(shared) - min(per):+.2f} us)")
        if args.write:
            write_section("hit-path", "\n".join([
                "## Server CPU per GetItem hit, in process", "",
                f"Measured {time.strftime('%Y-%m-%d %H:%M')} with `python -m bench.hit_path --requests "
                f"{args.requests} --rounds {args.rounds} --write` (the real stack over the memory backend fed the "
                f"bytes wrk sends, no socket; best of alternating rounds; load average {os.getloadavg()[0]:.1f}).",
                "", wrap("hit-path-table", "\n".join([
                    "| case | CPU µs per GetItem | vs floor |", "|---|---:|---:|",
                    f"| floor (uvloop + httptools + orjson + a dict) | {min(floor):.2f} | 1.00× |",
                    f"| accelerator, cache hit | {min(per):.2f} | {min(per) / min(floor):.2f}× |",
                    f"| accelerator, cache hit as one of several workers | {min(shared):.2f} | "
                    f"{min(shared) / min(floor):.2f}× |"]))]))
            print("wrote the hit-path section of bench/RESULTS.md")

    import uvloop

    uvloop.run(go())
    return 0


if __name__ == "__main__":
    sys.exit(main())

