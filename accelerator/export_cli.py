"""``accelerator export``: export a table of a running server to a local directory, with a progress bar.

It asks the server (ExportTableToPointInTime with ``S3Bucket=file://<dir>``), so the items stream from the
server's consistent view to the files a page at a time and nothing is loaded whole, here or there; the bar
follows DescribeExport's ItemCount against the table's item count (a COUNT Scan taken first).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, TextIO

__all__ = ["add_parser", "run", "ProgressBar"]

_TARGET = "DynamoDB_20120810."


class ExportFailed(Exception):
    """The server refused or failed the export; the message says why."""


class ProgressBar:
    """``[#####-----]  50%  500,000/1,000,000 items  12,345 items/s`` redrawn in place on a terminal, else a
    line every ``every`` seconds."""

    def __init__(self, total: int | None, out: TextIO, clock: Any = time.monotonic, width: int = 30,
                 every: float = 5.0) -> None:
        self.total = total
        self.out = out
        self.clock = clock
        self.width = width
        self.every = every
        self.started = clock()
        self.last_line = float("-inf")
        self.tty = out.isatty()

    def line(self, done: int) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = f"{done / elapsed:,.0f} items/s"
        if not self.total:
            return f"{done:,} items  {rate}"
        fraction = min(done / self.total, 1.0)
        filled = int(fraction * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        return f"[{bar}] {fraction:4.0%}  {done:,}/{self.total:,} items  {rate}"

    def show(self, done: int, final: bool = False) -> None:
        now = self.clock()
        if self.tty:
            self.out.write("\r" + self.line(done) + ("\n" if final else ""))
        elif final or now - self.last_line >= self.every:
            self.out.write(self.line(done) + "\n")
            self.last_line = now
        self.out.flush()


def _call(args: argparse.Namespace, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """One DynamoDB JSON call to the server, signed when credentials are given."""
    from accelerator.client.sigv4 import Credentials, SigV4Signer, credentials_from_env

    url = args.url.rstrip("/") + "/"
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": _TARGET + operation}
    credentials = (Credentials(args.access_key, args.secret_key) if args.access_key and args.secret_key
                   else credentials_from_env())
    if credentials is not None:
        host = urllib.parse.urlsplit(url).netloc
        headers.update(SigV4Signer(credentials, args.region).sign(host, dict(headers), data))
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result
    except urllib.error.HTTPError as exc:
        error = json.loads(exc.read() or b"{}")
        kind = str(error.get("__type", f"HTTP {exc.code}")).rsplit("#", 1)[-1]
        raise ExportFailed(f"{operation}: {kind}: {error.get('message', error.get('Message', ''))}") from None
    except urllib.error.URLError as exc:
        raise ExportFailed(f"{operation}: cannot reach {args.url}: {exc.reason}") from None


def _count(args: argparse.Namespace) -> int:
    total, start = 0, None
    while True:
        body: dict[str, Any] = {"TableName": args.table, "Select": "COUNT"}
        if start is not None:
            body["ExclusiveStartKey"] = start
        page = _call(args, "Scan", body)
        total += page["Count"]
        start = page.get("LastEvaluatedKey")
        if start is None:
            return total


def _pitr_on(args: argparse.Namespace) -> None:
    desc = _call(args, "DescribeContinuousBackups", {"TableName": args.table})
    if desc["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED":
        return
    if not args.enable_pitr:
        raise ExportFailed(f"point-in-time recovery is off for {args.table}, and an export needs it "
                           "(add --enable-pitr to turn it on)")
    _call(args, "UpdateContinuousBackups", {"TableName": args.table,
                                            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}})


def run(args: argparse.Namespace, out: TextIO = sys.stderr) -> int:
    """The command; returns its exit status."""
    try:
        arn = _call(args, "DescribeTable", {"TableName": args.table})["Table"]["TableArn"]
        _pitr_on(args)
        total = None if args.no_count else _count(args)
        body: dict[str, Any] = {"TableArn": arn, "S3Bucket": "file://" + os.path.abspath(args.to),
                                "ExportFormat": "DYNAMODB_JSON"}
        if args.prefix:
            body["S3Prefix"] = args.prefix
        export = _call(args, "ExportTableToPointInTime", body)["ExportDescription"]
        bar = ProgressBar(total, out)
        while export["ExportStatus"] == "IN_PROGRESS":
            bar.show(export.get("ItemCount", 0))
            time.sleep(args.interval)
            export = _call(args, "DescribeExport", {"ExportArn": export["ExportArn"]})["ExportDescription"]
        if export["ExportStatus"] != "COMPLETED":
            raise ExportFailed(f"export {export['ExportArn']} {export['ExportStatus']}: "
                               f"{export.get('FailureMessage', '')}")
        bar.total = bar.total or export["ItemCount"]
        bar.show(export["ItemCount"], final=True)
        print(os.path.join(os.path.abspath(args.to), export["ExportManifest"]))
        return 0
    except ExportFailed as exc:
        print(f"accelerator export: {exc}", file=out)
        return 1


def add_parser(sub: Any) -> None:
    """The ``export`` subcommand of ``accelerator``."""
    export = sub.add_parser("export", help="export a table of a running server to a local directory",
                            description="Export a table (DynamoDB's export layout: manifests and gzip'd "
                                        "DYNAMODB_JSON files) through a running server, with a progress bar. "
                                        "Prints the manifest-summary.json path.")
    export.add_argument("--url", default="http://127.0.0.1:8111", help="server URL")
    export.add_argument("--table", required=True)
    export.add_argument("--to", required=True, help="directory to write the export under")
    export.add_argument("--prefix", help="S3Prefix: a subdirectory of --to")
    export.add_argument("--enable-pitr", action="store_true",
                        help="turn point-in-time recovery on if it is off (an export needs it, as in DynamoDB)")
    export.add_argument("--no-count", action="store_true", help="skip the COUNT Scan: the bar has no total")
    export.add_argument("--interval", type=float, default=0.5, help="seconds between progress polls")
    export.add_argument("--access-key", help="sign with this access key id (default: $AWS_ACCESS_KEY_ID)")
    export.add_argument("--secret-key", help="... and this secret access key (default: $AWS_SECRET_ACCESS_KEY)")
    export.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
                        or "us-east-1", help="region in the signature's scope (default: $AWS_REGION or us-east-1)")
    export.set_defaults(func=run)
