"""DynamoDBStore: the upstream backend, a ``Store`` that forwards every operation to a DynamoDB endpoint.

Put ``CachedStore`` on top and the accelerator is a drop-in DAX: hits come from memory, everything else
goes here, and from here to AWS (or any DynamoDB-compatible endpoint) unchanged.

How a call travels. aiobotocore does what a DynamoDB client has to get right: credentials (the AWS chain,
a named profile, or keys from the config), SigV4, the endpoint for the region, a pool of keep-alive
connections, timeouts and retries (adaptive by default: a client-side token bucket that backs off under
throttling). What it does not do here is (de)serialization, which would turn our wire dicts into Python
values and back (bytes for B, datetimes, shape validation) for nothing:

- the request is handed to the client's endpoint (``make_request``, the step after serialization) as the
  JSON we received, re-encoded from the validated dict. Nothing is converted, so binary values stay the
  base64 text they came as, numbers stay strings, and members botocore's model does not know pass too.
- the response comes back as it came: a raw parser registered on the session keeps the body bytes and
  reads only ``__type``/``message`` of an error, which the retry policy needs to recognise throttling.

Skipping botocore's parameter events, endpoint rules and serializer costs nothing we need (DynamoDB's
rules only add account-ID endpoints, and the regional endpoint serves every table) and saves about a
third of botocore's CPU per call; botocore still spends ~0.3 ms of CPU per call, mostly signing and its
retry and HTTP layers (measured against a minimal local upstream).

Errors. An upstream error reaches the client unchanged: its body (``__type`` with its prefix, the message,
``Item``, ``CancellationReasons``, anything else) and its HTTP status. It is raised as an ``UpstreamError``
that also derives from the project's class of that type when there is one, so a layer above can still
``except ConditionalCheckFailedException``. An upstream that cannot be reached, times out or drops the
connection (after botocore's retries) is ``BackendUnavailable``, 503 and retryable: clients retry and the
cache keeps serving hits. After a write, that error means the outcome is unknown.

    DynamoError
    ├── UpstreamError (+ the project's class of the same type, e.g. ConditionalCheckFailedException)
    ├── ServiceUnavailable ── BackendUnavailable   upstream unreachable, timed out, connection lost
    ├── InternalServerError                        no credentials to sign with, or a reply that is not
    │                                              DynamoDB's JSON
    └── UnknownOperationException                  an operation botocore's DynamoDB model does not have

Writes and the cache. The cache layer keeps what a write tells it (PutItem's item, UpdateItem's ALL_NEW,
a delete's absence) and invalidates what it cannot know: a transaction's Update actions, every key of a
TransactWriteItems that carries a ClientRequestToken (boto3 always sends one), updates returning old
values, writes whose outcome is unknown. The next read of such a key misses and comes here, and an
eventually consistent read may be answered by a replica that has not seen the write yet: the old value
would be cached for the whole item TTL, and read-your-writes through this node would not hold. DAX has
that gap; it narrows it for transactions with a background TransactGetItems. This store closes it for
every write at no cost on the write path: the keys written through it in the last ``consistent_window``
seconds (and, for Query and Scan on the base table, the tables) have their eventually consistent reads
sent as strongly consistent ones, so a refill after a write is always a value the upstream confirmed
after the write was acknowledged. The price is a strongly consistent read's capacity for those few
reads. TransactWriteItems therefore needs no side channel: the cache invalidates, the refill is a
consistent read. A TransactWriteItems without a ClientRequestToken gets one, as every AWS SDK adds it,
so botocore's retries of it stay idempotent.

DescribeTable answers for ACTIVE tables are reused for ``describe_ttl`` seconds (the cache layer learns
key schemas through it; table changes through this store drop the entry).

Why one module over 400 lines: the call path, the raw response parser and the error translation all hook
into one botocore session's internals; kept together, a botocore upgrade is checked in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any, NamedTuple

import orjson
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.model import OperationNotFoundError

from accelerator.core import errors as _errors
from accelerator.core.errors import (
    BackendUnavailable,
    DynamoError,
    InternalServerError,
    ResourceNotFoundException,
    UnknownOperationException,
)
from accelerator.core.keys import KeySchema, schema_from_description
from accelerator.core.protocols import Request, Response
from accelerator.core.values import normalize_number
from backends.dynamodb_follow import StreamFollower

__all__ = ["DynamoDBStore", "UpstreamError", "RecentWrites", "upstream_error"]

log = logging.getLogger("accelerator.backends.dynamodb")

_RAW = "AcceleratorRawBody"  # the raw response body, in what the raw parser returns
_TABLE_OPS = frozenset({"CreateTable", "DeleteTable", "UpdateTable", "UpdateTimeToLive"})
_WRITE_OPS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
# DynamoDB Streams' operations go to the upstream's streams endpoint (its own botocore service and target prefix).
_STREAMS_OPS = frozenset({"ListStreams", "DescribeStream", "GetShardIterator", "GetRecords"})
_ALL = "*"  # scope marker: every key of a table


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
    return _error_class(body["__type"].rpartition("#")[2])(body, status)


def _decode(raw: bytes) -> Response:
    """A successful response body as the dict the ``Store`` contract returns."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise InternalServerError("The upstream DynamoDB endpoint sent a response that is not a JSON object")
    return body


# -- botocore plumbing -------------------------------------------------------------------------------
class _RawParser:
    """Keeps the response body as bytes; for errors, reads just enough for botocore's retry policy."""

    async def parse(self, response: dict[str, Any], shape: Any) -> dict[str, Any]:
        status = response["status_code"]
        raw = response["body"]
        parsed: dict[str, Any] = {_RAW: raw, "ResponseMetadata": {"HTTPStatusCode": status}}
        if status >= 300:
            code, message = str(status), ""
            with contextlib.suppress(orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
                doc = orjson.loads(raw)
                code = doc["__type"].rpartition("#")[2]
                message = doc.get("message", doc.get("Message", ""))
            parsed["Error"] = {"Code": code, "Message": message}
        return parsed


class _RawParserFactory:
    def create_parser(self, protocol: str) -> _RawParser:
        return _RawParser()


# -- keys written recently ---------------------------------------------------------------------------
def _canonical(table: str, key: Any) -> Hashable:
    """An item's identity from its key attributes, numbers in canonical form ('1.50' is '1.5')."""
    parts = []
    for name, value in key.items():
        ((tag, raw),) = value.items()
        if tag == "N":
            with contextlib.suppress(DynamoError):
                raw = normalize_number(raw)
        parts.append((name, tag, raw))
    return table, tuple(sorted(parts))


class RecentWrites:
    """Scopes (an item, or a whole table) written in the last ``window`` seconds; expiry is lazy."""

    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic,
                 limit: int = 200_000) -> None:
        self.window = window
        self.clock = clock
        self.limit = limit
        self._until: OrderedDict[Hashable, float] = OrderedDict()

    def mark(self, scopes: Iterable[Hashable]) -> None:
        until = self._until
        now = self.clock()
        deadline = now + self.window
        for scope in scopes:
            until[scope] = deadline
            until.move_to_end(scope)
        while until and (len(until) > self.limit or next(iter(until.values())) <= now):
            until.popitem(last=False)

    def __contains__(self, scope: Hashable) -> bool:
        deadline = self._until.get(scope)
        return deadline is not None and deadline > self.clock()


# -- the store ---------------------------------------------------------------------------------------
class _Route(NamedTuple):
    """Where one upstream service's calls go: its client, endpoint, target prefix and request context."""

    client: Any
    url: str
    target: str
    context: dict[str, Any]


def _context(client: Any) -> dict[str, Any]:
    """The request context botocore's own call path would give ``make_request`` for ``client``."""
    meta = client.meta
    return {"client_region": meta.region_name, "client_config": meta.config, "has_streaming_input": False,
            "auth_type": None, "unsigned_payload": None, "auth_options": meta.service_model.metadata.get("auth")}


class DynamoDBStore:
    """A ``Store`` whose every operation is the same operation on an upstream DynamoDB endpoint.

    ``max_attempts`` counts the first try (AWS_MAX_ATTEMPTS's meaning); ``retry_mode`` is botocore's
    ("adaptive", "standard" or "legacy"). Times are in seconds. With no keys given, credentials come from
    the AWS chain (environment, ``profile`` or the default profile, SSO, container or instance role).
    ``consistent_window`` 0 turns the read-after-write upgrade off.
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
        consistent_window: float = 3.0,
        follow_streams: bool = True,
        stream_poll_interval: float = 0.5,
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
        self.recent = RecentWrites(consistent_window) if consistent_window > 0 else None
        self._described: dict[str, tuple[float, bytes]] = {}
        self._key_names: dict[str, tuple[str, ...]] = {}
        self._models: dict[str, Any] = {}
        self._url = self._target = self._user_agent = ""
        self._context: dict[str, Any] = {}
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None
        self.follow_streams = follow_streams
        self.stream_poll_interval = stream_poll_interval
        self.follower: StreamFollower | None = None
        self._follow_task: asyncio.Task[None] | None = None
        self._schemas: dict[str, KeySchema] = {}
        self._listeners: list[Callable[[str, bytes | None, bytes | None], None]] = []
        self._streams: _Route | None = None

    async def open(self) -> None:
        session = AioSession(profile=self.profile) if self.profile else AioSession()
        session.register_component("response_parser_factory", _RawParserFactory())
        stack = contextlib.AsyncExitStack()
        keys = {k: v for k, v in self._keys.items() if v}
        self._client = await stack.enter_async_context(session.create_client(
            "dynamodb", region_name=self.region_name, endpoint_url=self.endpoint_url, config=self.config,
            **keys))
        self._stack = stack
        meta = self._client.meta
        self._url = meta.endpoint_url.rstrip("/") + "/"
        self._target = meta.service_model.metadata["targetPrefix"] + "."
        self._user_agent = f"{session.user_agent()} dynamo-accelerator"
        self._context = _context(self._client)
        streams = await stack.enter_async_context(session.create_client(
            "dynamodbstreams", region_name=self.region_name, endpoint_url=self.endpoint_url, config=self.config,
            **keys))
        self._streams = _Route(streams, streams.meta.endpoint_url.rstrip("/") + "/",
                               streams.meta.service_model.metadata["targetPrefix"] + ".", _context(streams))
        log.info("upstream DynamoDB at %s (region %s)", self._client.meta.endpoint_url, self.region_name)
        if self.follow_streams:
            await self._start_following(stack, keys)

    async def _start_following(self, stack: contextlib.AsyncExitStack, keys: dict[str, Any]) -> None:
        # A session of its own: the main one parses responses raw, this client needs botocore's parsing.
        session = AioSession(profile=self.profile) if self.profile else AioSession()
        streams = await stack.enter_async_context(session.create_client(
            "dynamodbstreams", region_name=self.region_name, endpoint_url=self.endpoint_url, config=self.config,
            **keys))
        self.follower = StreamFollower(streams, lambda: list(self._schemas), self._described_table,
                                       self._changed, poll_interval=self.stream_poll_interval)
        self._follow_task = asyncio.ensure_future(self.follower.run())

    def subscribe(self, listener: Callable[[str, bytes | None, bytes | None], None]) -> None:
        """Call ``listener(table, pk, sk)`` for keys changed upstream by writes that did not pass through this
        store (read from the table's stream), ``listener(table, None, None)`` when any key may have changed."""
        self._listeners.append(listener)

    async def _described_table(self, name: str) -> dict[str, Any]:
        table: dict[str, Any] = (await self._describe({"TableName": name})).get("Table", {})
        return table

    def _changed(self, table: str, keys: dict[str, Any] | None) -> None:
        pk: bytes | None = None
        sk: bytes | None = None
        schema = self._schemas.get(table)
        if keys is not None and schema is not None:
            with contextlib.suppress(Exception):  # an unreadable key: drop the whole table instead
                pk, sk = schema.key_of_request(keys)
        for listener in self._listeners:
            listener(table, pk, sk)

    async def close(self) -> None:
        task, self._follow_task = self._follow_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        stack, self._stack, self._client, self._streams = self._stack, None, None, None
        if stack is not None:
            await stack.aclose()

    async def call(self, operation: str, request: Request) -> Response:
        if operation == "DescribeTable":
            return await self._describe(request)
        if operation in _TABLE_OPS:
            self._forget(request.get("TableName"))
        elif operation in _WRITE_OPS:
            return await self._write(operation, request)
        elif self.recent is not None:
            request = self._consistent_if_recent(operation, request)
        return _decode(await self.forward(operation, request))

    async def forward(self, operation: str, request: Request) -> bytes:
        """Send ``request`` as ``operation`` upstream; the response body as it came, or its error raised."""
        client, url, target, context = self._client, self._url, self._target, self._context
        if operation in _STREAMS_OPS and self._streams is not None:
            client, url, target, context = self._streams
        if client is None:
            raise BackendUnavailable("The upstream DynamoDB store is not open")
        model = self._models.get(operation) or self._model(client, operation)
        request_dict = {  # what botocore's serializer would have made of the request, plus the endpoint
            "url_path": "/", "query_string": "", "method": "POST", "url": url,
            "body": orjson.dumps(request),
            "headers": {"X-Amz-Target": target + operation, "User-Agent": self._user_agent,
                        "Content-Type": "application/x-amz-json-1.0"},
            "context": {**context},
        }
        try:
            # A task of its own, so whatever botocore keeps in ContextVars (its client call sets and resets
            # some) stays in one context: the server steps a request inline before it gives it a Task.
            http, parsed = await asyncio.ensure_future(client._endpoint.make_request(model, request_dict))
        except (TimeoutError, HTTPClientError, BotoConnectionError, OSError) as exc:
            log.warning("upstream %s failed: %s", operation, exc)
            raise BackendUnavailable(
                f"The upstream DynamoDB endpoint is unavailable ({type(exc).__name__})") from exc
        except BotoCoreError as exc:  # no credentials to sign with, ...: our setup, not the call
            log.error("cannot call upstream %s: %s", operation, exc)
            raise InternalServerError(
                f"The accelerator cannot call its upstream ({type(exc).__name__})") from exc
        raw: bytes = parsed[_RAW]
        if http.status_code >= 300:
            error = upstream_error(raw, http.status_code)
            if isinstance(error, ResourceNotFoundException):
                self._forget(request.get("TableName"))
            raise error
        return raw

    def _model(self, client: Any, operation: str) -> Any:
        try:
            model = client.meta.service_model.operation_model(operation)
        except OperationNotFoundError:
            raise UnknownOperationException("") from None
        self._models[operation] = model
        return model

    # -- tables ----------------------------------------------------------------------------------
    async def _describe(self, request: Request) -> Response:
        name = request.get("TableName", "")
        entry = self._described.get(name)
        now = time.monotonic()
        if entry is not None and entry[0] > now:
            return _decode(entry[1])
        raw = await self.forward("DescribeTable", request)
        response = _decode(raw)
        table = response.get("Table", {})
        with contextlib.suppress(KeyError, TypeError, AttributeError, StopIteration):
            self._key_names[name] = tuple(e["AttributeName"] for e in table["KeySchema"])
            self._schemas[name] = schema_from_description(table)
        if self.describe_ttl > 0 and table.get("TableStatus") == "ACTIVE":
            self._described[name] = (now + self.describe_ttl, raw)
        return response

    def _forget(self, name: Any) -> None:
        if isinstance(name, str):
            self._described.pop(name, None)
            self._key_names.pop(name, None)
            self._schemas.pop(name, None)

    # -- writes, and reads after them ------------------------------------------------------------
    async def _write(self, operation: str, request: Request) -> Response:
        if operation == "TransactWriteItems" and "ClientRequestToken" not in request:
            request = {**request, "ClientRequestToken": str(uuid.uuid4())}
        try:
            return _decode(await self.forward(operation, request))
        finally:
            if self.recent is not None:
                self.recent.mark(self._scopes(operation, request))

    def _scopes(self, operation: str, request: Request) -> list[Hashable]:
        """The items a write may have changed and their tables; the whole table where a key is not known
        (a PutItem's key needs the key schema, learned from DescribeTable, which the cache asks first)."""
        scopes: list[Hashable] = []
        try:
            for table, key, item in _written(operation, request):
                names = self._key_names.get(table) if key is None else None
                try:
                    if key is None:
                        if names is None:
                            raise LookupError(table)
                        key = {name: item[name] for name in names}
                    scopes.append(_canonical(table, key))
                except Exception:  # noqa: BLE001 - no schema, a malformed key: every key of the table
                    scopes.append((table, _ALL))
                scopes.append(table)
        except Exception:  # noqa: BLE001 - a request the upstream refused anyway
            log.debug("cannot tell what %s wrote", operation, exc_info=True)
        return scopes

    def _consistent_if_recent(self, operation: str, request: Request) -> Request:
        """``request``, made strongly consistent where it reads something written in the window."""
        recent = self.recent
        assert recent is not None
        if operation == "GetItem":
            if not request.get("ConsistentRead") and self._recent_key(request.get("TableName"),
                                                                      request.get("Key")):
                return {**request, "ConsistentRead": True}
        elif operation in ("Query", "Scan"):
            table = request.get("TableName")
            if (not request.get("ConsistentRead") and "IndexName" not in request and isinstance(table, str)
                    and table in recent):
                return {**request, "ConsistentRead": True}  # a Query names its partition in an expression
        elif operation == "BatchGetItem":
            items = request.get("RequestItems")
            if isinstance(items, dict):
                upgraded = {name: {**spec, "ConsistentRead": True} for name, spec in items.items()
                            if isinstance(spec, dict) and not spec.get("ConsistentRead")
                            and any(self._recent_key(name, key) for key in spec.get("Keys") or ())}
                if upgraded:
                    return {**request, "RequestItems": {**items, **upgraded}}
        return request

    def _recent_key(self, table: Any, key: Any) -> bool:
        recent = self.recent
        if recent is None or not isinstance(table, str) or table not in recent:
            return False
        if (table, _ALL) in recent:
            return True
        try:
            return _canonical(table, key) in recent
        except Exception:  # noqa: BLE001 - a malformed key: the upstream will say so
            return False


def _written(operation: str, request: Request) -> Iterator[tuple[str, dict[str, Any] | None, dict[str, Any]]]:
    """(table, Key or None, Item) of each item a write names."""
    if operation == "BatchWriteItem":
        for table, requests in (request.get("RequestItems") or {}).items():
            for entry in requests or ():
                put, delete = entry.get("PutRequest"), entry.get("DeleteRequest")
                if put is not None:
                    yield table, None, put.get("Item") or {}
                elif delete is not None:
                    yield table, delete.get("Key") or {}, {}
    elif operation == "TransactWriteItems":
        for entry in request.get("TransactItems") or ():
            for kind, body in entry.items():
                if kind == "Put":
                    yield body.get("TableName", ""), None, body.get("Item") or {}
                elif kind in ("Update", "Delete"):
                    yield body.get("TableName", ""), body.get("Key") or {}, {}
    elif operation == "PutItem":
        yield request.get("TableName", ""), None, request.get("Item") or {}
    else:
        yield request.get("TableName", ""), request.get("Key") or {}, {}
