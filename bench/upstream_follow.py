"""How long a write made straight to the upstream DynamoDB stays stale in the accelerator's cache.

DAX serves it until the item TTL (5 minutes by default). Here the accelerator follows the table's stream: this
script writes straight to the upstream (moto's server, started here), then reads through the accelerator (cache
on, an hour of item TTL) until the new value comes back, for ``--trials`` writes, and prints the distribution of
that window for the follower's poll interval. Run: ``python -m bench.upstream_follow [--write]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from typing import Any

from loadtest.results_md import wrap, write_section
from tests.conftest import boto_client
from tests.moto_upstream import MotoServer
from tests.server_process import ServerProcess


def _measure(ddb: Any, direct: Any, table: str, trials: int, poll: float) -> list[float]:
    key = {"pk": {"S": "k"}}
    for warm in ("-1", "0"):  # the second waits until the follower has found the table's stream (discovery)
        direct.put_item(TableName=table, Item={**key, "v": {"N": warm}})
        while ddb.get_item(TableName=table, Key=key).get("Item", {}).get("v") != {"N": warm}:
            time.sleep(0.01)
    windows = []
    rand = random.Random(7)
    for i in range(1, trials + 1):
        time.sleep(rand.uniform(0, poll))  # writes at random phases of the follower's polling
        direct.put_item(TableName=table, Item={**key, "v": {"N": str(i)}})
        written = time.monotonic()
        while ddb.get_item(TableName=table, Key=key)["Item"]["v"] != {"N": str(i)}:
            time.sleep(0.005)
        windows.append(time.monotonic() - written)
        print(f"\r{i}/{trials} writes: last window {windows[-1] * 1000:.0f} ms", end="", flush=True)
    print()
    return windows


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.upstream_follow", description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=30)
    p.add_argument("--poll-interval", type=float, default=0.5, help="the follower's stream_poll_interval")
    p.add_argument("--write", action="store_true", help="write the table into bench/RESULTS.md")
    args = p.parse_args(argv)
    moto = MotoServer(record=False).start()
    accel = ServerProcess(moto.backend(consistent_window=0, stream_poll_interval=args.poll_interval),
                          cache={"enabled": True, "item_ttl": 3600.0}).start()
    try:
        ddb, direct = boto_client(accel.url), moto.client()
        table = f"follow_{uuid.uuid4().hex[:8]}"
        ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
        windows = sorted(_measure(ddb, direct, table, args.trials, args.poll_interval))
    finally:
        accel.stop()
        moto.stop()
    ms = [w * 1000 for w in windows]
    p50 = statistics.median(ms)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    body = (f"A write made straight to the upstream (moto's server), then reads through the accelerator (item TTL "
            f"an hour) until the new value is served; {args.trials} writes, follower poll interval "
            f"{args.poll_interval:g} s (`python -m bench.upstream_follow --write`):\n\n"
            "| stale window | p50 ms | p95 ms | max ms | DAX (item TTL) |\n|---|---:|---:|---:|---:|\n"
            f"| direct write → cache | {p50:.0f} | {p95:.0f} | {ms[-1]:.0f} | 300,000 |\n")
    print(body)
    if args.write:
        write_section("upstream-follow", "## The cache follows writes it did not see\n\n"
                      + wrap("upstream-follow-table", body))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
