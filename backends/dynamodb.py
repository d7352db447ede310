"""DynamoDBStore: the upstream backend, a ``Store`` that forwards every operation to a DynamoDB endpoint.

Put ``CachedStore`` on top and the accelerator is a drop-in DAX: hits come from memory, everything else
goes here, and from here to AWS (or any DynamoDB-compatible endpoint) unchanged.

How a call travels. aiobotocore does what a DynamoDB client has to get right: credentials (the usual AWS
chain, a named profile, or keys from the config), SigV4 signing, endpoint resolution, a pool of keep-alive
connections, timeouts and adaptive retries (a client-side token bucket that backs off under throttling).
What it does not do here is (de)serialization:

- the request body we received goes out byte for byte as we got it (re-encoded from the validated dict):
  a ``provide-client-params`` hook moves it out of the parameters into the request context, and a
  ``before-call`` hook swaps it in for the empty body botocore serialized. Nothing is converted, so binary
  values stay the base64 text they came as, numbers stay strings, and members botocore's model lacks pass.
- the response body comes back as it came: a raw parser registered on the session keeps the bytes and
  reads only ``__type``/``message`` of errors, which the retry policy needs to recognise throttling.

Errors. An upstream error reaches the client unchanged: its body (``__type`` with its prefix, the message,
``Item``, ``CancellationReasons``, anything else) and its HTTP status. It is raised as an ``UpstreamError``
that also derives from the project's class for that type when there is one, so a layer above can still
``except ConditionalCheckFailedException``. An upstream that cannot be reached, times out or resets the
connection after botocore's retries is ``BackendUnavailable`` (503, retryable): the client retries, and a
cache above keeps serving hits. For a write, that error means the outcome is unknown.

    DynamoError
    ├── UpstreamError (+ the project's class of the same type, e.g. ConditionalCheckFailedException)
    ├── ServiceUnavailable ── BackendUnavailable   upstream unreachable / timed out
    ├── InternalServerError                        the accelerator cannot sign (no credentials) or the
    │                                              upstream sent something that is not DynamoDB JSON
    └── UnknownOperationException                  an operation botocore's DynamoDB model does not have

DescribeTable answers are cached for ``describe_ttl`` seconds (ACTIVE tables only; CreateTable, DeleteTable,
UpdateTable and UpdateTimeToLive through this store forget the entry), so a cache layer that needs a table's
key schema on every write does not cost an upstream call each time.

TransactWriteItems. An upstream write is confirmed only by the upstream. PutItem, DeleteItem and
BatchWriteItem carry the whole new state in the request; UpdateItem's new item is ALL_NEW's business. A
transaction's Update actions are neither, so after a successful TransactWriteItems this store reads the
written keys back with one TransactGetItems (strongly consistent and atomic, so a snapshot that contains
the transaction) before returning, and hands those items to the cache on a side channel (``CONFIRMED``,
see ``confirmed_items``). A cache that prefers can ignore it and invalidate; it must then not refill those
keys from an eventually consistent GetItem, which upstream may answer with the value from before the
transaction. If the read-back fails, the write still succeeded: the side channel is left empty (invalidate).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

import orjson
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.model import OperationNotFoundError

from accelerator.core import errors as _errors
from accelerator.core.errors import (
    BackendUnavailable,
    DynamoError,
    InternalServerError,
    UnknownOperationException,
)
from accelerator.core.protocols import Request, Response

__all__ = ["DynamoDBStore", "UpstreamError", "CONFIRMED", "confirmed_items"]

log = logging.getLogger("accelerator.backends.dynamodb")

_BODY = "accelerator_body"  # key of the raw body, first in the parameters, then in the request context
_RAW = "AcceleratorRawBody"  # key of the raw response body in what the raw parser returns
_TABLE_OPS = frozenset({"CreateTable", "DeleteTable", "UpdateTable", "UpdateTimeToLive"})

Confirmed = tuple[str, dict[str, Any], "dict[str, Any] | None"]
"""(table, key, item or None when absent) of one item the upstream confirmed after a write."""

CONFIRMED: ContextVar[list[Confirmed] | None] = ContextVar("confirmed_items", default=None)
"""Set by a successful TransactWriteItems to its Update actions' items as read back from the upstream."""


def confirmed_items() -> list[Confirmed] | None:
    """The confirmed items of this task's last TransactWriteItems, or None when there are none to trust."""
    return CONFIRMED.get()


# -- errors ------------------------------------------------------------------------------------------
class UpstreamError(DynamoError):
    """An error the upstream returned; ``to_wire`` gives back its body exactly as it came."""

    def __init__(self, body: dict[str, Any], status: int) -> None:
        prefix, sep, name = str(body.get("__type", "")).rpartition("#")
        message = body.get("message", body.get("Message", ""))
        DynamoError.__init__(self, message if isinstance(message, str) else str(message))
        self.type_name = name
        self.prefix = prefix + sep
        self.status = status
        if status >= 500:
            self.retryable = True
        self.body = body
        self.item: dict[str, Any] | None = body.get("Item")
        self.reasons: list[dict[str, Any]] = body.get("CancellationReasons") or []

    def to_wire(self) -> dict[str, Any]:
        return self.body


def _known_types() -> dict[str, type[DynamoError]]:
    known: dict[str, type[DynamoError]] = {}
    for name in _errors.__all__:
        cls = getattr(_errors, name)
        if isinstance(cls, type) and issubclass(cls, DynamoError) and cls is not DynamoError:
            known.setdefault(cls.type_name, cls)
    return known


_KNOWN = _known_types()


@functools.cache
def _error_class(type_name: str) -> type[UpstreamError]:
    """UpstreamError, mixed with the project's class for ``type_name`` when there is one."""
    known = _KNOWN.get(type_name)
    if known is None:
        return UpstreamError
    return type(f"Upstream{type_name}", (UpstreamError, known), {"__module__": __name__})


def upstream_error(raw: bytes, status: int) -> DynamoError:
    """The error for an upstream reply with HTTP ``status`` and body ``raw``."""
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("__type"), str):
        # Not DynamoDB's error JSON (a proxy's HTML page, an empty 5xx): keep the status, make the body.
        text = raw[:200].decode("utf-8", "replace").strip()
        body = {"__type": ("com.amazonaws.dynamodb.v20120810#InternalServerError" if status >= 500
                           else "com.amazon.coral.service#UnknownError"),
                "message": f"upstream answered HTTP {status}" + (f": {text}" if text else "")}
    name = body["__type"].rpartition("#")[2]
    return _error_class(name)(body, status)


# -- botocore plumbing -------------------------------------------------------------------------------
class _RawParser:
    """Keeps the response body as bytes; for errors, reads just enough for botocore's retry policy."""

    async def parse(self, response: dict[str, Any], shape: Any) -> dict[str, Any]:
        status = response["status_code"]
        raw = response["body"]
        parsed: dict[str, Any] = {_RAW: raw, "ResponseMetadata": {"HTTPStatusCode": status}}
        if status >= 300:
            code, message = str(status), ""
            with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError):
                doc = orjson.loads(raw)
                code = doc["__type"].rpartition("#")[2]
                message = doc.get("message", doc.get("Message", ""))
            parsed["Error"] = {"Code": code, "Message": message}
        return parsed


class _RawParserFactory:
    def create_parser(self, protocol: str) -> _RawParser:
        return _RawParser()


def _take_body(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[_BODY] = params.pop(_BODY)


def _put_body(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    params["body"] = context[_BODY]


# -- the store ---------------------------------------------------------------------------------------
class DynamoDBStore:
    """A ``Store`` whose every operation is the same operation on an upstream DynamoDB endpoint.

    ``max_attempts`` counts the first try (AWS_MAX_ATTEMPTS's meaning); ``retry_mode`` is botocore's
    ("adaptive", "standard" or "legacy"). Timeouts are in seconds. With no keys given, credentials come from
    the AWS chain (environment, ``profile`` or the default profile, SSO, container or instance role).
    """

    def __init__(
        self,
        endpoint_url: str | None = None,
        region_name: str = "us-east-1",
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        profile: str | None = None,
        max_pool_connections: int = 64,
        retry_mode: str = "adaptive",
        max_attempts: int = 3,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        describe_ttl: float = 1.0,
        transact_read_back: bool = True,
    ) -> None:
        self.endpoint_url = endpoint_url or None
        self.region_name = region_name
        self.profile = profile
        self._keys = {"aws_access_key_id": aws_access_key_id, "aws_secret_access_key": aws_secret_access_key,
                      "aws_session_token": aws_session_token}
        self.config = AioConfig(
            region_name=region_name,
            max_pool_connections=max_pool_connections,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"mode": retry_mode, "total_max_attempts": max_attempts},
            parameter_validation=False,
            user_agent_extra="dynamo-accelerator",
        )
        self.describe_ttl = describe_ttl
        self.transact_read_back = transact_read_back
        self._described: dict[str, tuple[float, bytes]] = {}
        self._routed: dict[str, bool] = {}
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None

    async def open(self) -> None:
        session = AioSession(profile=self.profile) if self.profile else AioSession()
        session.register_component("response_parser_factory", _RawParserFactory())
        stack = contextlib.AsyncExitStack()
        keys = {k: v for k, v in self._keys.items() if v}
        self._client = await stack.enter_async_context(session.create_client(
            "dynamodb", region_name=self.region_name, endpoint_url=self.endpoint_url, config=self.config, **keys))
        self._stack = stack
        events = self._client.meta.events
        events.register("provide-client-params.dynamodb", _take_body)
        events.register("before-call.dynamodb", _put_body)
        log.info("upstream DynamoDB at %s (region %s)", self._client.meta.endpoint_url, self.region_name)

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def call(self, operation: str, request: Request) -> Response:
        if operation == "DescribeTable":
            return await self._describe(request)
        if operation in _TABLE_OPS:
            self._described.pop(request.get("TableName", ""), None)
        if operation == "TransactWriteItems":
            return await self._transact_write(request)
        return orjson.loads(await self.forward(operation, request))

    async def forward(self, operation: str, request: Request) -> bytes:
        """Send ``request`` as ``operation`` upstream; the response body as it came, or its error raised."""
        client = self._client
        if client is None:
            raise BackendUnavailable("The upstream DynamoDB store is not open")
        params: dict[str, Any] = {_BODY: orjson.dumps(request)}
        if self._routes(operation) and isinstance(request.get("TableName"), str):
            params["TableName"] = request["TableName"]  # for endpoint rules that route on a table ARN
        try:
            # In a task of its own: botocore sets and resets ContextVars around the call, and a caller stepped
            # partly outside a task (the server answers hits inline) must not see the reset in another context.
            parsed = await asyncio.ensure_future(client._make_api_call(operation, params))
        except ClientError as exc:
            raise upstream_error(exc.response.get(_RAW, b""),
                                 exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)) from None
        except (TimeoutError, HTTPClientError, BotoConnectionError, OSError) as exc:
            log.warning("upstream %s failed: %s", operation, exc)
            raise BackendUnavailable(f"The upstream DynamoDB endpoint is unavailable ({type(exc).__name__})") \
                from exc
        except OperationNotFoundError:
            raise UnknownOperationException("") from None
        except BotoCoreError as exc:  # no credentials, bad region, ...: the accelerator's setup, not the call
            log.error("cannot call upstream %s: %s", operation, exc)
            raise InternalServerError(f"The accelerator cannot call its upstream ({type(exc).__name__})") from exc
        raw: bytes = parsed[_RAW]
        if not raw.startswith(b"{"):
            raise InternalServerError("The upstream DynamoDB endpoint sent a response that is not JSON")
        return raw

    def _routes(self, operation: str) -> bool:
        routed = self._routed.get(operation)
        if routed is None:
            try:
                shape = self._client.meta.service_model.operation_model(operation).input_shape
            except OperationNotFoundError:
                raise UnknownOperationException("") from None
            routed = self._routed[operation] = shape is not None and "TableName" in shape.members
        return routed

    # -- DescribeTable, cached briefly ---------------------------------------------------------------
    async def _describe(self, request: Request) -> Response:
        name = request.get("TableName", "")
        entry = self._described.get(name)
        now = time.monotonic()
        if entry is not None and entry[0] > now:
            return orjson.loads(entry[1])
        raw = await self.forward("DescribeTable", request)
        response: Response = orjson.loads(raw)
        if self.describe_ttl > 0 and response.get("Table", {}).get("TableStatus") == "ACTIVE":
            self._described[name] = (now + self.describe_ttl, raw)
        return response

    # -- TransactWriteItems, then read back what the upstream confirmed ---------------------------
    async def _transact_write(self, request: Request) -> Response:
        CONFIRMED.set(None)
        if "ClientRequestToken" not in request:
            # Every AWS SDK sends one, so botocore's own retries of this call stay idempotent; so do we.
            request = {**request, "ClientRequestToken": str(uuid.uuid4())}
        response: Response = orjson.loads(await self.forward("TransactWriteItems", request))
        if self.transact_read_back:
            CONFIRMED.set(await self._read_back(request["TransactItems"]))
        return response

    async def _read_back(self, actions: Iterable[dict[str, Any]]) -> list[Confirmed] | None:
        """The keys the transaction's Update actions wrote, read back in one TransactGetItems; None if that
        fails. Put and Delete actions carry their new state in the request, so they need no read."""
        gets = [{"Get": {"TableName": action["Update"]["TableName"], "Key": action["Update"]["Key"]}}
                for action in actions if "Update" in action]
        if not gets:
            return []
        try:
            raw = await self.forward("TransactGetItems", {"TransactItems": gets})
        except DynamoError as exc:
            log.info("TransactGetItems after TransactWriteItems failed (%s); the cache invalidates", exc)
            return None
        responses = orjson.loads(raw).get("Responses", [])
        return [(get["Get"]["TableName"], get["Get"]["Key"], response.get("Item"))
                for get, response in zip(gets, responses, strict=True)]
