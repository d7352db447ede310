"""DynamoDB's export layout on a local directory, written a page at a time off the event loop.

    <prefix>/AWSDynamoDB/<ExportId>/_started
    <prefix>/AWSDynamoDB/<ExportId>/data/<random>.json.gz     one {"Item": {...}} per line (DYNAMODB_JSON)
    <prefix>/AWSDynamoDB/<ExportId>/manifest-files.json      one JSON object per data file
    <prefix>/AWSDynamoDB/<ExportId>/manifest-summary.json    the export's summary
    and a .md5 beside each manifest (its hex MD5)
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import secrets
from pathlib import Path
from typing import Any, BinaryIO

import orjson

__all__ = ["DataFiles", "write_manifests", "export_prefix"]

FILE_ITEMS = 100_000  # items per data file before the next one starts


def export_prefix(prefix: str | None, export_id: str) -> str:
    """The key prefix of an export's objects: ``<S3Prefix>/AWSDynamoDB/<ExportId>``."""
    base = f"AWSDynamoDB/{export_id}"
    return f"{prefix.rstrip('/')}/{base}" if prefix else base


class DataFiles:
    """Gzip'd data files under ``directory/data``; ``write`` appends encoded lines, rolling files over."""

    def __init__(self, directory: Path, key_prefix: str, file_items: int = FILE_ITEMS) -> None:
        self.directory = directory
        self.key_prefix = key_prefix
        self.file_items = file_items
        self.files: list[dict[str, Any]] = []
        self._raw: BinaryIO | None = None
        self._gz: gzip.GzipFile | None = None
        self._count = 0
        self._name = ""

    def start(self) -> None:
        (self.directory / "data").mkdir(parents=True, exist_ok=True)
        (self.directory / "_started").touch()

    def _open(self) -> None:
        self._name = f"{secrets.token_hex(13)}.json.gz"
        self._raw = open(self.directory / "data" / self._name, "wb")  # noqa: SIM115 (closed in _close)
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="wb", mtime=0)
        self._count = 0

    def _close(self) -> None:
        if self._gz is None or self._raw is None:
            return
        self._gz.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        path = self.directory / "data" / self._name
        digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).digest()
        self.files.append({"itemCount": self._count, "md5Checksum": base64.b64encode(digest).decode(),
                           "etag": digest.hex(), "dataFileS3Key": f"{self.key_prefix}/data/{self._name}"})
        self._gz = self._raw = None

    def write(self, values: list[bytes]) -> None:
        """Append items (their stored JSON) as ``{"Item": ...}`` lines (blocking: run it in a thread)."""
        i = 0
        while i < len(values):
            if self._gz is None:
                self._open()
            assert self._gz is not None
            room = self.file_items - self._count
            chunk = values[i : i + room]
            self._gz.write(b"".join(b'{"Item":' + value + b"}\n" for value in chunk))
            self._count += len(chunk)
            i += len(chunk)
            if self._count >= self.file_items:
                self._close()

    def finish(self) -> list[dict[str, Any]]:
        """Close the last file (an empty table still gets one, as DynamoDB writes one per partition)."""
        if self._gz is None and not self.files:
            self._open()
        self._close()
        return self.files


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.with_suffix(".md5").write_text(hashlib.md5(data, usedforsecurity=False).hexdigest())


def write_manifests(directory: Path, files: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """manifest-files.json (one line per data file), then manifest-summary.json: the summary comes last, so a
    reader that finds it finds a complete export."""
    _write(directory / "manifest-files.json", b"".join(orjson.dumps(f) + b"\n" for f in files))
    _write(directory / "manifest-summary.json", orjson.dumps(summary))
