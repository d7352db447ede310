"""ImportTable, DescribeImport, ListImports: a new table filled from files in a local directory.

The files are every object of the bucket's directory whose key starts with S3KeyPrefix (DynamoDB's export
data files, or CSV), read a batch of lines at a time off the loop and written through the engine's atomic
unit, so the new table's indexes are built with its items. The table shows CREATING until the last item is
in. A line that is not a valid item is counted in ErrorCount and skipped, as DynamoDB does; a source with
no files, or one that cannot be read, fails the import and removes the table.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import logging
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import orjson

from accelerator.core.errors import (
    DynamoError,
    ImportConflictException,
    ImportNotFoundException,
    ResourceInUseException,
    TableAlreadyExistsException,
    ValidationException,
)
from accelerator.core.keys import KeySchema
from accelerator.core.protocols import KeyRef, Request, Response
from accelerator.core.tables import TableDef
from accelerator.core.values import normalize_number, validate_item
from accelerator.engine import restore
from accelerator.engine.control import describe_table
from accelerator.engine.indexes import IndexDef, indexes_of
from accelerator.engine.job_arns import check_job_arn
from accelerator.engine.locations import bucket_dir, check_bucket

__all__ = ["HANDLERS", "CATALOG", "fill_from_files"]

log = logging.getLogger("accelerator.imports")

CATALOG = "!imports"
_LINES = 500  # lines read (and items written) between two yields to the loop
_CHUNK = 500  # items per atomic unit (one commit each)
_FIELDS = ("ImportArn", "ImportStatus", "TableArn", "TableId", "ClientToken", "S3BucketSource", "ErrorCount",
           "InputFormat", "InputFormatOptions", "InputCompressionType", "TableCreationParameters", "StartTime",
           "EndTime", "ProcessedSizeBytes", "ProcessedItemCount", "ImportedItemCount", "FailureCode",
           "FailureMessage")
_SUMMARY = ("ImportArn", "ImportStatus", "TableArn", "S3BucketSource", "InputFormat", "StartTime", "EndTime")


class _Fatal(Exception):
    """The import as a whole cannot go on (no source files, an unreadable file)."""


def _check(req: Request) -> None:
    check_bucket(req["S3BucketSource"]["S3Bucket"], "s3BucketSource.s3Bucket")
    if req["InputFormat"] == "ION":
        raise ValidationException("InputFormat ION is not supported by this server; use DYNAMODB_JSON or CSV")
    if req.get("InputCompressionType") == "ZSTD":
        raise ValidationException("InputCompressionType ZSTD is not supported by this server; use GZIP or NONE")
    if "InputFormatOptions" in req and req["InputFormat"] != "CSV":
        raise ValidationException("InputFormatOptions can only be specified with InputFormat CSV")


async def import_table(engine: Any, req: Request) -> Response:
    _check(req)
    params = req["TableCreationParameters"]
    token = req.get("ClientToken")
    if token is not None:
        # DynamoDB consults the token only while that import runs (after, its table exists and the request is
        # refused for that), and only the target table is compared: another source, format or compression
        # silently gets the running import back.
        running = [r for r in await engine.imports.all()
                   if r.get("ClientToken") == token and r["ImportStatus"] == "IN_PROGRESS"]
        if running:
            if running[0]["TableCreationParameters"].get("TableName") != params.get("TableName"):
                raise ImportConflictException("Duplicate request detected with conflicting parameters")
            return {"ImportTableDescription": _public(running[0])}
    create = {**params, "BillingMode": params.get("BillingMode", "PROVISIONED")}
    try:
        table = await restore.create_target(engine, create, None)
    except TableAlreadyExistsException:
        raise ResourceInUseException(f"Table already exists: {params['TableName']}") from None
    desc = (await describe_table(engine, {"TableName": table.name}))["Table"]
    started = round(time.time(), 3)
    record = {"ImportArn": f"{desc['TableArn']}/import/{int(started * 1000):014d}-{secrets.token_hex(4)}",
              "ImportStatus": "IN_PROGRESS", "TableArn": desc["TableArn"], "TableId": desc["TableId"],
              "S3BucketSource": req["S3BucketSource"], "InputFormat": req["InputFormat"],
              "InputCompressionType": req.get("InputCompressionType", "NONE"), "TableCreationParameters": params,
              "StartTime": started, "ErrorCount": 0, "ProcessedItemCount": 0, "ImportedItemCount": 0}
    for member in ("ClientToken", "InputFormatOptions"):
        if member in req:
            record[member] = req[member]
    await engine.imports.put(record["ImportArn"], record)
    engine.spawn(fill_from_files(engine, table, record))
    return {"ImportTableDescription": _public(record)}


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in _FIELDS if record.get(k) is not None}


def _sources(root: str, source: dict[str, Any]) -> list[tuple[Path, str]]:
    directory = bucket_dir(root, source["S3Bucket"])
    prefix = source.get("S3KeyPrefix", "")
    if not directory.is_dir():
        raise _Fatal(f"The specified bucket does not exist: {source['S3Bucket']}")
    found = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        key = path.relative_to(directory).as_posix()
        if key.startswith(prefix):
            found.append((path, key))
    return found  # none under the prefix: DynamoDB completes, with the empty table it was asked for


def _lines(path: Path, compressed: bool) -> Iterator[list[str]]:
    """Batches of text lines of one file (blocking: each batch is read in a thread)."""
    raw: Any = gzip.open(path, "rb") if compressed else open(path, "rb")  # noqa: SIM115 (closed below)
    try:
        text: TextIO = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        batch: list[str] = []
        for line in text:
            batch.append(line)
            if len(batch) >= _LINES:
                yield batch
                batch = []
        if batch:
            yield batch
    finally:
        raw.close()


class _Converter:
    """Turns a source line into an item, or raises ValueError / DynamoError for a bad one."""

    def __init__(self, table: TableDef, record: dict[str, Any]) -> None:
        self.key: KeySchema = table.key
        self.indexes: tuple[IndexDef, ...] = indexes_of(table)
        self.types = dict(table.attribute_definitions)
        self.csv = record["InputFormat"] == "CSV"
        options = record.get("InputFormatOptions", {}).get("Csv", {})
        self.delimiter = options.get("Delimiter", ",")
        self.header: list[str] | None = options.get("HeaderList")
        self.fixed_header = self.header is not None

    def start_file(self) -> None:
        if not self.fixed_header:
            self.header = None

    def item(self, line: str) -> tuple[tuple[bytes, bytes], dict[str, Any]] | None:
        if not line.strip():
            return None
        if not self.csv:
            doc = orjson.loads(line)
            if not isinstance(doc, dict) or not isinstance(doc.get("Item"), dict):
                raise ValueError("not an {\"Item\": {...}} line")
            return self._checked(doc["Item"])
        (row,) = csv.reader([line], delimiter=self.delimiter)
        if self.header is None:
            self.header = row
            return None
        if len(row) != len(self.header):
            raise ValueError("a CSV row with a different number of columns than its header")
        item: dict[str, Any] = {}
        for name, value in zip(self.header, row, strict=True):
            if value == "":
                continue
            kind = self.types.get(name, "S")  # key attributes take their declared type, the rest are strings
            item[name] = {kind: normalize_number(value) if kind == "N" else value}
        return self._checked(item)

    def _checked(self, item: dict[str, Any]) -> tuple[tuple[bytes, bytes], dict[str, Any]]:
        validate_item(item)
        key = self.key.key_of_item(item)
        for index in self.indexes:
            index.composite(item)
        return key, item


async def fill_from_files(engine: Any, table: TableDef, record: dict[str, Any]) -> None:
    """Run the import ``record`` into ``table`` (from its first file: rewriting an item is harmless)."""
    counts = {"ProcessedItemCount": 0, "ImportedItemCount": 0, "ErrorCount": 0, "ProcessedSizeBytes": 0}
    try:
        files = await asyncio.to_thread(_sources, engine.export_root, record["S3BucketSource"])
        convert = _Converter(table, record)
        for path, _key in files:
            convert.start_file()
            counts["ProcessedSizeBytes"] += path.stat().st_size
            batches = _lines(path, record["InputCompressionType"] == "GZIP")
            while (batch := await asyncio.to_thread(next, batches, None)) is not None:
                await _write(engine, table, convert, batch, counts)
                await asyncio.sleep(0)
        await restore.finish(engine, table.name)
        await engine.imports.put(record["ImportArn"], {**record, **_counted(counts), "ImportStatus": "COMPLETED",
                                                       "EndTime": round(time.time(), 3)})
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        if not isinstance(exc, (_Fatal, OSError)):
            log.exception("import %s failed", record["ImportArn"])
        await engine.imports.put(record["ImportArn"], {
            **record, **_counted(counts), "ImportStatus": "FAILED", "EndTime": round(time.time(), 3), "FailureCode": "UNKNOWN",
            "FailureMessage": str(exc)})
        try:
            await engine.call("DeleteTable", {"TableName": table.name})
        except DynamoError:
            log.warning("could not remove the table of failed import %s", record["ImportArn"])


def _counted(counts: dict[str, int]) -> dict[str, int]:
    """The final counters as DynamoDB reports them: ProcessedSizeBytes only once something was read."""
    return {k: v for k, v in counts.items() if v or k != "ProcessedSizeBytes"}


async def _write(engine: Any, table: TableDef, convert: _Converter, batch: list[str], counts: dict[str, int]) -> None:
    items: dict[tuple[bytes, bytes], bytes] = {}
    for line in batch:
        try:
            converted = convert.item(line)
        except (ValueError, DynamoError):
            counts["ProcessedItemCount"] += 1
            counts["ErrorCount"] += 1
            continue
        if converted is None:
            continue
        counts["ProcessedItemCount"] += 1
        key, item = converted
        items[key] = orjson.dumps(item)  # a key seen twice: the last line wins
    pairs = list(items.items())
    for i in range(0, len(pairs), _CHUNK):
        chunk = pairs[i : i + _CHUNK]
        refs = [KeyRef(table.name, pk, sk) for (pk, sk), _ in chunk]
        values = [value for _, value in chunk]
        await engine.storage.transact(refs, lambda olds, values=values: values)
    counts["ImportedItemCount"] += len(pairs)


async def describe_import(engine: Any, req: Request) -> Response:
    check_job_arn(req["ImportArn"], "import")
    record = await engine.imports.get(req["ImportArn"])
    if record is None:
        raise ImportNotFoundException(f"Import not found: {req['ImportArn']}")
    return {"ImportTableDescription": _public(record)}


def _token(arn: str) -> str:
    """A NextToken in the form DynamoDB's model requires (hex, in blocks of 16, at least 112 characters): the
    ARN's UTF-8 in hex, ended by ff (a byte UTF-8 never has), padded with zeros."""
    text = arn.encode().hex() + "ff"
    text += "0" * (-len(text) % 16)
    return text + "0" * max(0, 112 - len(text))


def _from_token(token: str) -> str:
    end = next((i for i in range(0, len(token) - 1, 2) if token[i:i + 2] == "ff"), None)
    try:
        if end is None:
            raise ValueError(token)
        return bytes.fromhex(token[:end]).decode()
    except ValueError:
        raise ValidationException("Invalid NextToken") from None


async def list_imports(engine: Any, req: Request) -> Response:
    records = sorted(await engine.imports.all(), key=lambda r: (r["StartTime"], r["ImportArn"]))
    if "TableArn" in req:
        records = [r for r in records if r["TableArn"] == req["TableArn"]]
    if "NextToken" in req:
        after = _from_token(req["NextToken"])
        arns = [r["ImportArn"] for r in records]
        if after not in arns:
            raise ValidationException("Invalid NextToken")
        records = records[arns.index(after) + 1:]
    size = req.get("PageSize", 25)
    response: Response = {"ImportSummaryList": [{k: r[k] for k in _SUMMARY if r.get(k) is not None}
                                                for r in records[:size]]}
    if len(records) > size:
        response["NextToken"] = _token(records[size - 1]["ImportArn"])
    return response


HANDLERS = {"ImportTable": import_table, "DescribeImport": describe_import, "ListImports": list_imports}
