"""GetItem through the accelerator in front of a DynamoDB upstream (a cache hit) vs. straight to the upstream.

    python -m bench.upstream_compare                        # starts moto's server and the accelerator
    python -m bench.upstream_compare --requests 500 --rounds 2
    python -m bench.upstream_compare --upstream-url http://127.0.0.1:8000   # e.g. DynamoDB Local

Rows, in interleaved rounds so machine drift hits all alike, over the same hot keys (~250-byte items):
  accelerator, hit            eventually consistent GetItem answered from the item cache
  accelerator, ConsistentRead bypasses the cache: accelerator + its upstream call (the store's overhead)
  upstream direct             the same GetItem sent straight to the upstream
Clients: ``raw`` is loadtest.wire.Connection (one keep-alive connection, a fixed SigV4 header: the servers'
cost); ``boto3`` is what an application sees (boto3 spends ~0.7 ms of its own CPU per call). The ratio is
each row's p50 over the direct row's p50 for the same client. moto's server closes the connection after
every reply, so each direct request (and each upstream call of the accelerator) pays a TCP connect too.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import orjson
from botocore.config import Config

from loadtest.process import free_port
from loadtest.wire import Connection, create_tables, write_items

ROOT = Path(__file__).resolve().parent.parent
TABLE = "bench_upstream"
KEYS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)


def item(i: int) -> dict[str, Any]:
    return {"k": {"S": f"key{i:06d}"}, "v": {"S": "x" * 200}, "version": {"N": "1"}}


def raw_target(url: str, keys: int, consistent: bool) -> Callable[[int], list[int]]:
    conn = Connection(url)
    bodies = [orjson.dumps({"TableName": TABLE, "Key": {"k": item(i)["k"]},
                            **({"ConsistentRead": True} if consistent else {})}) for i in range(keys)]

    def run(n: int) -> list[int]:
        out = []
        for j in range(n):
            t0 = time.perf_counter_ns()
            reply = conn.request("GetItem", bodies[j % keys])
            out.append(time.perf_counter_ns() - t0)
            if reply.status != 200 or b'"Item"' not in reply.body:
                raise RuntimeError(f"{url}: HTTP {reply.status} {reply.body[:200]!r}")
        return out
    return run


def boto_target(url: str, keys: int, consistent: bool) -> Callable[[int], list[int]]:
    client = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", **KEYS,
                          config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    key_list = [{"k": item(i)["k"]} for i in range(keys)]

    def run(n: int) -> list[int]:
        out = []
        for j in range(n):
            t0 = time.perf_counter_ns()
            client.get_item(TableName=TABLE, Key=key_list[j % keys], ConsistentRead=consistent)
            out.append(time.perf_counter_ns() - t0)
        return out
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--upstream-url", help="an upstream already running (default: start moto's server)")
    parser.add_argument("--requests", type=int, default=1000, help="requests per row per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keys", type=int, default=200, help="hot keys, read in turn")
    parser.add_argument("--clients", default="raw,boto3", help="comma list of raw, boto3")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="upstream-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        upstream = args.upstream_url
        if upstream is None:
            port = free_port()
            upstream = f"http://127.0.0.1:{port}"
            procs.append(start([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               workdir / "moto.log"))
            wait_http(upstream + "/moto-api/")
        accel_port = free_port()
        accel = f"http://127.0.0.1:{accel_port}"
        config = workdir / "accel.toml"
        config.write_text(
            f'[server]\nport = {accel_port}\n[backend]\nkind = "dynamodb"\nendpoint_url = "{upstream}"\n'
            f'aws_access_key_id = "bench"\naws_secret_access_key = "bench"\nretry_mode = "standard"\n'
            f'[cache]\nenabled = true\nitem_ttl = 0\n')
        procs.append(start([sys.executable, "-m", "accelerator.cli", "serve", "--config", str(config),
                            "--log-level", "warning"], workdir / "accel.log",
                           {**os.environ, "PYTHONUNBUFFERED": "1"}))
        wait_http(accel + "/health")

        setup = Connection(accel)
        create_tables(setup, [{"TableName": TABLE, "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
                               "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
                               "BillingMode": "PAY_PER_REQUEST"}])
        write_items(setup, TABLE, (item(i) for i in range(args.keys)))
        for i in range(args.keys):  # every key cached (the batch write filled it; make sure)
            setup.call("GetItem", {"TableName": TABLE, "Key": {"k": item(i)["k"]}})

        makers = {"raw": raw_target, "boto3": boto_target}
        rows = [("accelerator, hit", accel, False), ("accelerator, ConsistentRead", accel, True),
                ("upstream direct", upstream, False)]
        clients = [c.strip() for c in args.clients.split(",") if c.strip()]
        targets = {(client, label): makers[client](url, args.keys, consistent)
                   for client in clients for label, url, consistent in rows}
        for run in targets.values():
            run(min(50, args.requests))  # warm-up: connections, first-call costs
        samples: dict[tuple[str, str], list[int]] = {name: [] for name in targets}
        for _ in range(args.rounds):
            for name, run in targets.items():
                samples[name].extend(run(args.requests))
        report(samples, clients, [r[0] for r in rows], args, upstream)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


def report(samples: dict[tuple[str, str], list[int]], clients: list[str], labels: list[str],
           args: argparse.Namespace, upstream: str) -> None:
    print(f"GetItem, {args.rounds} rounds x {args.requests} requests per row, {args.keys} hot keys; "
          f"upstream {'moto server' if args.upstream_url is None else upstream}; {os.cpu_count()} CPUs")
    print(f"{'client':<7} {'target':<28} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'p50 / direct':>13}")
    for client in clients:
        direct = float(np.percentile(samples[(client, "upstream direct")], 50))
        for label in labels:
            ns = np.asarray(samples[(client, label)], dtype=np.float64)
            p50, p99 = np.percentile(ns, 50), np.percentile(ns, 99)
            print(f"{client:<7} {label:<28} {p50 / 1e6:>8.3f} {p99 / 1e6:>8.3f} {ns.mean() / 1e6:>8.3f} "
                  f"{p50 / direct:>13.3f}")


if __name__ == "__main__":
    sys.exit(main())
