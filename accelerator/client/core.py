"""What the sync and async clients share, without I/O: the operation table, request encoding, response
decoding (boto3's shapes, ResponseMetadata, error classes) and the retry/failover decision.
"""

from __future__ import annotations

import base64
import datetime
import os
import zlib
from collections.abc import Sequence
from typing import Any

import orjson

from .endpoints import Endpoint, EndpointSet
from .errors import ClientError, ConnectError, ProtocolError, TransportError, error_class
from .http11 import Response
from .retry import RetryPolicy
from .sigv4 import Credentials, SigV4Signer, credentials_from_env

__all__ = ["OPERATIONS", "ClientCore", "Operation", "dumps"]

_TARGET_PREFIX = "DynamoDB_20120810."


class Operation:
    """One DynamoDB operation: wire name, whether it only reads, and its pre-encoded X-Amz-Target header."""

    __slots__ = ("name", "read", "control", "target", "target_header")

    def __init__(self, name: str, read: bool, control: bool = False) -> None:
        self.name = name
        self.read = read
        self.control = control  # table-level: timestamps in the answer become datetimes, as in boto3
        self.target = _TARGET_PREFIX + name
        self.target_header = f"X-Amz-Target: {self.target}\r\n".encode()


OPERATIONS: dict[str, Operation] = {
    snake: Operation(name, read, control)
    for snake, name, read, control in [
        ("get_item", "GetItem", True, False),
        ("put_item", "PutItem", False, False),
        ("update_item", "UpdateItem", False, False),
        ("delete_item", "DeleteItem", False, False),
        ("query", "Query", True, False),
        ("scan", "Scan", True, False),
        ("batch_get_item", "BatchGetItem", True, False),
        ("batch_write_item", "BatchWriteItem", False, False),
        ("transact_get_items", "TransactGetItems", True, False),
        ("transact_write_items", "TransactWriteItems", False, False),
        ("create_table", "CreateTable", False, True),
        ("describe_table", "DescribeTable", True, True),
        ("list_tables", "ListTables", True, True),
        ("delete_table", "DeleteTable", False, True),
        ("update_table", "UpdateTable", False, True),
        ("update_time_to_live", "UpdateTimeToLive", False, True),
        ("describe_time_to_live", "DescribeTimeToLive", True, True),
        ("tag_resource", "TagResource", False, True),
        ("untag_resource", "UntagResource", False, True),
        ("list_tags_of_resource", "ListTagsOfResource", True, True),
        ("describe_limits", "DescribeLimits", True, True),
        ("create_backup", "CreateBackup", False, True),
        ("describe_backup", "DescribeBackup", True, True),
        ("list_backups", "ListBackups", True, True),
        ("delete_backup", "DeleteBackup", False, True),
        ("restore_table_from_backup", "RestoreTableFromBackup", False, True),
        ("update_continuous_backups", "UpdateContinuousBackups", False, True),
        ("describe_continuous_backups", "DescribeContinuousBackups", True, True),
        ("restore_table_to_point_in_time", "RestoreTableToPointInTime", False, True),
        ("export_table_to_point_in_time", "ExportTableToPointInTime", False, True),
        ("describe_export", "DescribeExport", True, True),
        ("list_exports", "ListExports", True, True),
        ("import_table", "ImportTable", False, True),
        ("describe_import", "DescribeImport", True, True),
        ("list_imports", "ListImports", True, True),
    ]
}
_BY_NAME = {op.name: op for op in OPERATIONS.values()}


def operation(name: str) -> Operation:
    """The operation for a wire name (``GetItem``) or a method name (``get_item``); unknown ones are writes."""
    op = _BY_NAME.get(name) or OPERATIONS.get(name)
    return op if op is not None else Operation(name, read=False)


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):  # boto3 takes raw bytes for B / BS
        return base64.b64encode(value).decode()
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, datetime.datetime):  # epoch seconds on the wire; a naive one is UTC, as in boto3
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        seconds = value.timestamp()
        return int(seconds) if seconds == int(seconds) else seconds
    raise TypeError(f"cannot send a {type(value).__name__} as JSON")


def dumps(params: Any) -> bytes:
    """A request body; bytes become base64 as boto3 does."""
    return orjson.dumps(params, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


def _decode_binary(value: Any) -> None:
    """Turn base64 B / BS attribute values into bytes, in place (boto3 returns bytes)."""
    if isinstance(value, dict):
        if len(value) == 1:
            b = value.get("B")
            if isinstance(b, str):
                value["B"] = base64.b64decode(b)
                return
            bs = value.get("BS")
            if isinstance(bs, list) and all(isinstance(x, str) for x in bs):
                value["BS"] = [base64.b64decode(x) for x in bs]
                return
        for item in value.values():
            if isinstance(item, dict | list):
                _decode_binary(item)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                _decode_binary(item)


try:
    from dateutil.tz import tzlocal as _tzlocal

    _LOCAL: datetime.tzinfo | None = _tzlocal()
except ImportError:  # pragma: no cover
    _LOCAL = None


def _decode_timestamps(value: Any) -> None:
    """Epoch numbers under ``*DateTime`` keys become aware datetimes, as botocore parses them."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("DateTime") and isinstance(item, int | float) and not isinstance(item, bool):
                stamp = datetime.datetime.fromtimestamp(item, _LOCAL)
                value[key] = stamp if _LOCAL is not None else stamp.astimezone()
            elif isinstance(item, dict | list):
                _decode_timestamps(item)
    elif isinstance(value, list):
        for item in value:
            _decode_timestamps(item)


class ClientCore:
    """Configuration and the I/O-free steps of a call, shared by both clients."""

    def __init__(
        self,
        endpoint_url: str | None,
        endpoints: Sequence[str] | None,
        *,
        region_name: str | None,
        aws_access_key_id: str | None,
        aws_secret_access_key: str | None,
        aws_session_token: str | None,
        sign: bool | None,
        retry_policy: RetryPolicy | None,
        verify_crc32: bool,
        spread_reads: bool,
        health_check_interval: float,
    ) -> None:
        urls = list(endpoints or ()) + ([endpoint_url] if endpoint_url else [])
        if not urls:
            raise ValueError("give endpoint_url= or endpoints=")
        self.endpoints = EndpointSet(urls, probe_interval=health_check_interval)
        self.retry = retry_policy or RetryPolicy()
        self.verify_crc32 = verify_crc32
        self.spread_reads = spread_reads
        self.signer = self._signer(
            region_name, aws_access_key_id, aws_secret_access_key, aws_session_token, sign
        )

    @staticmethod
    def _signer(
        region: str | None, key: str | None, secret: str | None, token: str | None, sign: bool | None
    ) -> SigV4Signer | None:
        if sign is False:
            return None
        if key and secret:
            creds: Credentials | None = Credentials(key, secret, token)
        else:
            creds = credentials_from_env()
        if creds is None:
            if sign:
                raise ValueError("sign=True needs credentials (arguments or AWS_* environment variables)")
            return None
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return SigV4Signer(creds, region)

    def encode(self, endpoint: Endpoint, op: Operation, body: bytes) -> bytes:
        """The full request bytes for one attempt on one endpoint (signed per attempt: date and host vary)."""
        signer = self.signer
        if signer is None:
            return b"%s%sContent-Length: %d\r\n\r\n%s" % (endpoint.request_prefix, op.target_header, len(body), body)
        extra = signer.sign_json_request(endpoint.host_header, op.target, body)
        return b"%s%s%sContent-Length: %d\r\n\r\n%s" % (
            endpoint.request_prefix, op.target_header, extra, len(body), body,
        )  # fmt: skip

    def decode(self, op: Operation, endpoint: Endpoint, resp: Response, retries: int) -> dict[str, Any]:
        """The boto3-shaped result of an answer, or raise its ClientError."""
        body = resp.body
        headers = resp.headers
        if self.verify_crc32:
            crc = headers.get("x-amz-crc32")
            if crc is not None and crc.isdigit() and int(crc) != zlib.crc32(body):
                raise ProtocolError("CRC32 of the answer does not match x-amz-crc32", endpoint.url)
        if not endpoint.healthy:
            self.endpoints.mark_up(endpoint)
        meta = {
            "RequestId": headers.get("x-amzn-requestid", ""),
            "HTTPStatusCode": resp.status,
            "HTTPHeaders": headers,
            "RetryAttempts": retries,
        }
        if resp.status >= 300:
            raise self._error(op, resp, meta)
        try:
            data = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            raise ProtocolError("answer is not JSON", endpoint.url) from None
        if not isinstance(data, dict):
            raise ProtocolError("answer is not a JSON object", endpoint.url)
        if b'"B":' in body or b'"BS":' in body:
            _decode_binary(data)
        if op.control:
            _decode_timestamps(data)
        data["ResponseMetadata"] = meta
        return data

    @staticmethod
    def _error(op: Operation, resp: Response, meta: dict[str, Any]) -> ClientError:
        try:
            data = orjson.loads(resp.body) if resp.body else {}
        except orjson.JSONDecodeError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        code = str(data.pop("__type", "") or data.pop("code", "") or resp.status).rpartition("#")[2]
        message = data.pop("message", None) or data.pop("Message", None) or ""
        if b'"B":' in resp.body:
            _decode_binary(data)  # the old Item of a ConditionalCheckFailedException
        error_response: dict[str, Any] = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": meta}
        error_response.update(data)  # CancellationReasons, Item, ... at the top level, as botocore puts them
        return error_class(code)(error_response, op.name)

    def retry_delay(self, op: Operation, endpoint: Endpoint, exc: Exception, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None to give up and raise ``exc``."""
        policy = self.retry
        endpoints = self.endpoints
        if isinstance(exc, TransportError):
            if not isinstance(exc, ProtocolError):
                endpoints.mark_down(endpoint)
            if not (op.read or isinstance(exc, ConnectError)):
                return None  # a write may have been applied: never send it twice
            if attempt + 1 >= policy.max_attempts + len(endpoints.all) - 1:
                return None
            return 0.0 if endpoints.has_alternative(endpoint) else policy.backoff(attempt)
        if isinstance(exc, ClientError):
            meta = exc.response["ResponseMetadata"]
            if not policy.is_retryable(exc.response["Error"]["Code"], meta["HTTPStatusCode"]):
                return None
            if attempt + 1 >= policy.max_attempts:
                meta["MaxAttemptsReached"] = True
                return None
            return policy.backoff(attempt)
        return None
