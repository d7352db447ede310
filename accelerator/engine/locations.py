"""Where an export is written and an import is read: the local directory an ``S3Bucket`` names.

A bucket is either ``file:///absolute/path`` (that directory) or a plain bucket name, which is a directory
of that name under the configured export root (``[backend] export_root``, default ``<data_dir>/exports``).
Nothing goes over the network. Object keys are paths relative to the bucket's directory; a key may not
leave it (no ``..``).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from accelerator.core.errors import ValidationException

__all__ = ["bucket_dir", "object_path", "check_bucket", "FILE_URL"]

FILE_URL = "file://"
_BUCKET = re.compile(r"^[a-z0-9A-Z]+[\.\-\w]*[a-z0-9A-Z]+$\Z")
_PATTERN = "^[a-z0-9A-Z]+[\\.\\-\\w]*[a-z0-9A-Z]+$"


def check_bucket(value: str, member: str) -> None:
    """DynamoDB's member check for a bucket name, and ours for a ``file://`` URL."""
    if value.startswith(FILE_URL):
        if not value[len(FILE_URL):].startswith("/"):
            raise ValidationException(f"{member} must be a bucket name or a file:// URL with an absolute path: "
                                      f"{value}")
        return
    if len(value) > 255:
        raise ValidationException(f"1 validation error detected: Value '{value[:100]}...' at '{member}' failed to "
                                  "satisfy constraint: Member must have length less than or equal to 255")
    if not _BUCKET.match(value):
        raise ValidationException(f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
                                  f"constraint: Member must satisfy regular expression pattern: {_PATTERN}")


def bucket_dir(root: str, bucket: str) -> Path:
    """The directory a bucket names."""
    if bucket.startswith(FILE_URL):
        return Path(bucket[len(FILE_URL):])
    return Path(root) / bucket


def object_path(directory: Path, key: str) -> Path:
    """The file of object ``key`` in a bucket's directory; a key may not climb out of it."""
    parts = PurePosixPath(key).parts
    if ".." in parts or key.startswith("/"):
        raise ValidationException(f"Invalid S3 key: {key}")
    return directory.joinpath(*parts)
