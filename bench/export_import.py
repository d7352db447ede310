"""Export then import a table of N items through a real server, and check the round trip is exact.

Loads N items (BatchWriteItem), turns point-in-time recovery on, exports to a temporary directory
(ExportTableToPointInTime with a file:// bucket), imports the export's data files into a new table
(ImportTable) and compares both tables item for item. Prints items/s of each phase.

    python -m bench.export_import [--items 100000] [--backend sqlite|memory|postgres|redis]
"""

from __future__ import annotations

import argparse
import tempfile
import time
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--backend", default="sqlite", choices=[b for b in E2E_BACKENDS if b != "dynamodb-upstream"])
    args = parser.parse_args()
    server = ServerProcess(E2E_BACKENDS[args.backend](), cache={"enabled": False}).start()
    try:
        ddb = boto_client(server.url)
        ddb.create_table(TableName="bench_src", BillingMode="PAY_PER_REQUEST", **KEY)
        started = time.perf_counter()
        for start in range(0, args.items, 25):
            ddb.batch_write_item(RequestItems={"bench_src": [{"PutRequest": {"Item": item(i)}}
                                                             for i in range(start, min(args.items, start + 25))]})
        load = time.perf_counter() - started
        ddb.update_continuous_backups(TableName="bench_src",
                                      PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        arn = ddb.describe_table(TableName="bench_src")["Table"]["TableArn"]
        out = tempfile.mkdtemp(prefix="bench-export-")
        started = time.perf_counter()
        export = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=f"file://{out}")["ExportDescription"]
        export = wait(ddb, "describe_export", "ExportArn", export["ExportArn"], "ExportDescription", "ExportStatus")
        exported = time.perf_counter() - started
        assert export["ExportStatus"] == "COMPLETED" and export["ItemCount"] == args.items, export
        prefix = export["ExportManifest"].rsplit("/", 1)[0] + "/data/"
        started = time.perf_counter()
        job = ddb.import_table(S3BucketSource={"S3Bucket": f"file://{out}", "S3KeyPrefix": prefix},
                               InputFormat="DYNAMODB_JSON", InputCompressionType="GZIP",
                               TableCreationParameters={"TableName": "bench_dst", "BillingMode": "PAY_PER_REQUEST",
                                                        **KEY})["ImportTableDescription"]
        job = wait(ddb, "describe_import", "ImportArn", job["ImportArn"], "ImportTableDescription", "ImportStatus")
        imported = time.perf_counter() - started
        assert job["ImportStatus"] == "COMPLETED" and job["ImportedItemCount"] == args.items, job
        exact = scan(ddb, "bench_src") == scan(ddb, "bench_dst")
        print(f"backend {args.backend}, {args.items:,} items: load {args.items / load:,.0f} items/s (boto3 "
              f"BatchWriteItem), export {args.items / exported:,.0f} items/s ({exported:.2f} s), import "
              f"{args.items / imported:,.0f} items/s ({imported:.2f} s), round trip exact: {exact}")
        if not exact:
            raise SystemExit(1)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
