"""GetItem hit latency through boto3, the sync client and the async client, in one run against one server.

    .venv/bin/python -m bench.client_compare                      # starts `accelerator serve --backend memory`
    .venv/bin/python -m bench.client_compare --url http://h:8111  # an already running server
    .venv/bin/python -m bench.client_compare --server stub        # a canned-answer responder: client cost only
    .venv/bin/python -m bench.client_compare --pin                # client on CPU 0, the server it starts on CPU 1

Each client makes the same sequential GetItem calls on one cached item, in interleaved rounds so drift hits
all alike. Reported per client: latency p50 / p99 / mean (µs), client CPU per call (µs, this process only),
and the ratios to boto3.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from loadtest.process import free_port
from loadtest.results_md import wrap, write_section

TABLE = "bench_client"
KEY = {"pk": {"S": "hot-key"}}
ITEM = {
    **KEY,
    "user": {"S": "ada"},
    "hits": {"N": "42"},
    "cart": {"L": [{"S": "sku-1"}, {"S": "sku-2"}]},
    "profile": {"M": {"name": {"S": "Ada Lovelace"}, "lang": {"S": "en"}}},
    "active": {"BOOL": True},
}
CREDS = {"region_name": "us-east-1", "aws_access_key_id": "bench", "aws_secret_access_key": "bench"}


# -- a canned-answer responder (run in its own process): measures the client alone ------------------------------


def serve_stub(port: int) -> None:
    import zlib

    import orjson

    body = orjson.dumps({"Item": ITEM})
    reply = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: stub\r\n"
        b"x-amz-crc32: %d\r\nContent-Length: %d\r\n\r\n%s" % (zlib.crc32(body), len(body), body)
    )

    class Stub(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            self.buf = b""

        def data_received(self, data: bytes) -> None:
            self.buf += data
            while True:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buf[:end].lower()
                at = head.find(b"content-length:")
                length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
                if len(self.buf) < end + 4 + length:
                    return
                self.buf = self.buf[end + 4 + length :]
                self.transport.write(reply)

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Stub, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


# -- servers -------------------------------------------------------------------------------------------------------


def start_server(kind: str, pin: bool) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    if kind == "accelerator":
        cmd = [sys.executable, "-m", "accelerator.cli", "serve", "--port", str(port), "--backend", "memory",
               "--log-level", "warning"]  # fmt: skip
    elif kind == "moto":
        cmd = [sys.executable, "-m", "moto.server", "-p", str(port), "-H", "127.0.0.1"]
    else:
        cmd = [sys.executable, "-m", "bench.client_compare", "--serve-stub", str(port)]
    if pin and shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        cmd = ["taskset", "-c", "1", *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{kind} server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{kind} server did not start")


def setup_table(url: str) -> None:
    from accelerator.client import AcceleratorClient

    with AcceleratorClient(url, **CREDS) as client:
        if TABLE not in client.list_tables()["TableNames"]:
            client.create_table(
                TableName=TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
            )  # fmt: skip
        client.put_item(TableName=TABLE, Item=ITEM)
        assert client.get_item(TableName=TABLE, Key=KEY)["Item"] == ITEM


# -- measuring -----------------------------------------------------------------------------------------------------


class Samples:
    def __init__(self, name: str) -> None:
        self.name = name
        self.latencies: list[int] = []  # ns
        self.cpu = 0.0
        self.calls = 0

    def add(self, latencies: list[int], cpu: float) -> None:
        self.latencies.extend(latencies)
        self.cpu += cpu
        self.calls += len(latencies)

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] / 1000

    @property
    def mean(self) -> float:
        return statistics.fmean(self.latencies) / 1000

    @property
    def cpu_per_call(self) -> float:
        return self.cpu / self.calls * 1e6


def measure_sync(call: Callable[[], Any], n: int) -> tuple[list[int], float]:
    clock = time.perf_counter_ns
    out = [0] * n
    cpu0 = time.process_time()
    for i in range(n):
        t0 = clock()
        call()
        out[i] = clock() - t0
    return out, time.process_time() - cpu0


async def measure_async(call: Callable[[], Any], n: int) -> tuple[list[int], float]:
    clock = time.perf_counter_ns
    out = [0] * n
    cpu0 = time.process_time()
    for i in range(n):
        t0 = clock()
        await call()
        out[i] = clock() - t0
    return out, time.process_time() - cpu0


def run(url: str, n: int, rounds: int, warmup: int, use_uvloop: bool) -> list[Samples]:
    import boto3
    from botocore.config import Config

    from accelerator.client import AcceleratorClient, AsyncAcceleratorClient

    boto = boto3.client("dynamodb", endpoint_url=url, config=Config(retries={"max_attempts": 1}), **CREDS)
    sync = AcceleratorClient(url, **CREDS)
    aclient = AsyncAcceleratorClient(url, **CREDS)
    loops: list[tuple[str, asyncio.AbstractEventLoop]] = [("async client (asyncio)", asyncio.new_event_loop())]
    if use_uvloop:
        try:
            import uvloop

            loops.append(("async client (uvloop)", uvloop.new_event_loop()))
        except ImportError:
            pass

    def boto_get() -> Any:
        return boto.get_item(TableName=TABLE, Key=KEY)

    def sync_get() -> Any:
        return sync.get_item(TableName=TABLE, Key=KEY)

    def async_get() -> Any:
        return aclient.get_item(TableName=TABLE, Key=KEY)

    results = {name: Samples(name) for name in ["boto3", "sync client", *(name for name, _ in loops)]}
    per_round = max(1, n // rounds)
    for count, keep in [(warmup, False)] + [(per_round, True)] * rounds:  # the warm-up round is thrown away
        for name, fn in (("boto3", boto_get), ("sync client", sync_get)):
            lat, cpu = measure_sync(fn, count)
            if keep:
                results[name].add(lat, cpu)
        for name, loop in loops:
            lat, cpu = loop.run_until_complete(measure_async(async_get, count))
            if keep:
                results[name].add(lat, cpu)
    for _, loop in loops:
        loop.run_until_complete(aclient.close())
        loop.close()
    sync.close()
    return list(results.values())


def report(results: list[Samples], url: str, server: str) -> str:
    base = results[0]
    lines = [
        f"GetItem hit, {base.calls} calls per client, server: {server} at {url}",
        "",
        "| client | p50 µs | p99 µs | mean µs | client CPU µs/call | p50 vs boto3 | CPU vs boto3 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in results:
        lines.append(
            f"| {s.name} | {s.pct(0.5):.0f} | {s.pct(0.99):.0f} | {s.mean:.0f} | {s.cpu_per_call:.0f} | "
            f"{base.pct(0.5) / s.pct(0.5):.1f}x | {base.cpu_per_call / s.cpu_per_call:.1f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running server; default: start one")
    parser.add_argument("--server", choices=["accelerator", "moto", "stub"], default="accelerator",
                        help="the server to start when --url is not given (default: accelerator, memory backend)")
    parser.add_argument("--requests", "-n", type=int, default=20000, help="GetItem calls per client")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds the calls are split into")
    parser.add_argument("--warmup", type=int, default=500, help="calls per client before measuring")
    parser.add_argument("--pin", action="store_true", help="pin this process to CPU 0 and a started server to CPU 1")
    parser.add_argument("--no-uvloop", action="store_true", help="leave out the uvloop row")
    parser.add_argument("--serve-stub", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--write", action="store_true",
                        help="write the table into bench/RESULTS.md (section client-<server>) and the README")
    args = parser.parse_args(argv)
    if args.serve_stub:
        serve_stub(args.serve_stub)
        return
    if args.pin and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    proc = None
    url, server = args.url, "external"
    if not url:
        proc, url = start_server(args.server, args.pin)
        server = args.server
    try:
        if server != "stub":
            setup_table(url)
        results = run(url, args.requests, args.rounds, args.warmup, not args.no_uvloop)
        text = report(results, url, server + (" (pinned)" if args.pin else ""))
        print(text)
        if args.write:
            command = "python -m bench.client_compare " + " ".join(argv if argv is not None else sys.argv[1:])
            write_section(f"client-{server}", "\n".join([
                f"## Client cost: GetItem, server {server}", "",
                f"Measured {time.strftime('%Y-%m-%d %H:%M')} with `{command.strip()}`; load average "
                f"{os.getloadavg()[0]:.1f}.", "", wrap(f"client-{server}-table", text)]))
            print(f"wrote the client-{server} section of bench/RESULTS.md")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
