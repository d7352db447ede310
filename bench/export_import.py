"""Export then import a table of N items through a real server, and check the round trip is exact.

Loads N items (BatchWriteItem), turns point-in-time recovery on, exports to a temporary directory
(ExportTableToPointInTime with a file:// bucket), imports the export's data files into a new table
(ImportTable) and compares both tables item for item. Prints items/s of each phase and the server's
resident memory (VmRSS) after each, and its peak (VmHWM): an export and an import stream page by page, so
neither grows with the table (the items loaded by the time of the export are in the backend, not the server,
except on the memory backend).

    python -m bench.export_import [--items 100000] [--backend sqlite|memory|postgres|redis] [--write]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.conftest import boto_client
from tests.e2e_backends import E2E_BACKENDS
from tests.server_process import ServerProcess

KEY = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
       "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                {"AttributeName": "sk", "AttributeType": "N"}]}


def item(i: int) -> dict[str, Any]:
    return {"pk": {"S": f"p{i % 1000}"}, "sk": {"N": str(i)}, "name": {"S": f"item number {i}"},
            "n": {"N": f"{i}.25"}, "tags": {"SS": ["a", f"t{i % 7}"]}, "m": {"M": {"x": {"BOOL": i % 2 == 0}}}}


def wait(ddb: Any, describe: str, arn_key: str, arn: str, member: str, status: str) -> dict[str, Any]:
    while True:
        desc: dict[str, Any] = getattr(ddb, describe)(**{arn_key: arn})[member]
        if desc[status] != "IN_PROGRESS":
            return desc
        time.sleep(0.1)


def scan(ddb: Any, table: str) -> dict[tuple[str, str], Any]:
    return {(i["pk"]["S"], i["sk"]["N"]): i for page in ddb.get_paginator("scan").paginate(TableName=table)
            for i in page["Items"]}


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (the peak) of a process, in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--backend", default="sqlite", choices=[b for b in E2E_BACKENDS if b != "dynamodb-upstream"])
    parser.add_argument("--write", action="store_true", help="write the export-import section of bench/RESULTS.md")
    args = parser.parse_args()
    server = ServerProcess(E2E_BACKENDS[args.backend](), cache={"enabled": False}).start()
    assert server.proc is not None
    pid = server.proc.pid
    memory: dict[str, dict[str, float]] = {"started": memory_mb(pid)}
    try:
        ddb = boto_client(server.url)
        ddb.create_table(TableName="bench_src", BillingMode="PAY_PER_REQUEST", **KEY)
        started = time.perf_counter()
        step = max(25, args.items // 20 // 25 * 25)
        for start in range(0, args.items, 25):
            ddb.batch_write_item(RequestItems={"bench_src": [{"PutRequest": {"Item": item(i)}}
                                                             for i in range(start, min(args.items, start + 25))]})
            if start and start % step == 0:
                print(f"\rloading {start:,} / {args.items:,} items", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        load = time.perf_counter() - started
        memory["loaded"] = memory_mb(pid)
        ddb.update_continuous_backups(TableName="bench_src",
                                      PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        arn = ddb.describe_table(TableName="bench_src")["Table"]["TableArn"]
        out = tempfile.mkdtemp(prefix="bench-export-")
        started = time.perf_counter()
        export = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=f"file://{out}")["ExportDescription"]
        export = wait(ddb, "describe_export", "ExportArn", export["ExportArn"], "ExportDescription", "ExportStatus")
        exported = time.perf_counter() - started
        memory["exported"] = memory_mb(pid)
        assert export["ExportStatus"] == "COMPLETED" and export["ItemCount"] == args.items, export
        prefix = export["ExportManifest"].rsplit("/", 1)[0] + "/data/"
        started = time.perf_counter()
        job = ddb.import_table(S3BucketSource={"S3Bucket": f"file://{out}", "S3KeyPrefix": prefix},
                               InputFormat="DYNAMODB_JSON", InputCompressionType="GZIP",
                               TableCreationParameters={"TableName": "bench_dst", "BillingMode": "PAY_PER_REQUEST",
                                                        **KEY})["ImportTableDescription"]
        job = wait(ddb, "describe_import", "ImportArn", job["ImportArn"], "ImportTableDescription", "ImportStatus")
        imported = time.perf_counter() - started
        memory["imported"] = memory_mb(pid)
        assert job["ImportStatus"] == "COMPLETED" and job["ImportedItemCount"] == args.items, job
        print("comparing both tables item for item ...", file=sys.stderr, flush=True)
        exact = scan(ddb, "bench_src") == scan(ddb, "bench_dst")
        rss = ", ".join(f"{phase} {m['VmRSS']:.0f}" for phase, m in memory.items())
        line = (f"backend {args.backend}, {args.items:,} items: load {args.items / load:,.0f} items/s (boto3 "
                f"BatchWriteItem), export {args.items / exported:,.0f} items/s ({exported:.2f} s), import "
                f"{args.items / imported:,.0f} items/s ({imported:.2f} s), round trip exact: {exact}; server RSS MB "
                f"{rss}, peak {memory['imported']['VmHWM']:.0f}")
        print(line)
        if not exact:
            raise SystemExit(1)
        if args.write:
            from loadtest.results_md import write_section

            write_section(f"export-import-{args.backend}", "\n".join([
                f"## Export and import round trip ({args.backend})", "",
                f"Measured {datetime.now():%Y-%m-%d %H:%M} with `python -m bench.export_import --items {args.items} "
                f"--backend {args.backend} --write`: the table exported (ExportTableToPointInTime to a file:// "
                "bucket), imported into a new table (ImportTable, DYNAMODB_JSON, GZIP), both compared item for "
                "item; server cache off; load average " f"{os.getloadavg()[0]:.1f}.", "",
                "| items | load items/s | export items/s (s) | import items/s (s) | round trip exact | server RSS MB "
                "(start / loaded / exported / imported) | server peak RSS MB |",
                "|---:|---:|---:|---:|---|---|---:|",
                f"| {args.items:,} | {args.items / load:,.0f} | {args.items / exported:,.0f} ({exported:.1f}) | "
                f"{args.items / imported:,.0f} ({imported:.1f}) | {exact} | "
                + " / ".join(f"{m['VmRSS']:.0f}" for m in memory.values())
                + f" | {memory['imported']['VmHWM']:.0f} |"]))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
