"""A small in-memory ``Store`` for the cache's unit tests: counts calls, can block, fail or yield.

It implements the operations the cache touches, in their simplest wire forms: legacy
``KeyConditions`` (EQ on the partition key) or ``KeyConditionExpression`` of the form ``pk = :v`` for
Query, ``AttributeUpdates`` (PUT / DELETE) for UpdateItem, ``AttributesToGet`` for projection.
"""

from __future__ import annotations

import asyncio
import copy
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from accelerator.core.errors import (
    ResourceInUseException,
    ResourceNotFoundException,
    TransactionCanceledException,
    ValidationException,
)
from accelerator.core.keys import KeySchema
from accelerator.core.protocols import Request, Response

__all__ = ["FakeStore", "FakeClock", "simple_key_condition", "attributes_to_get", "make_cached", "run"]


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def simple_key_condition(req: Request, ctx: Any, schema: KeySchema) -> tuple[Any, str | None, list[Any]]:
    """Stand-in for ``plan.key_condition`` understanding only ``<pk> = :<value>``."""
    name, _, placeholder = (part.strip() for part in req["KeyConditionExpression"].partition("="))
    return req["ExpressionAttributeValues"][placeholder], None, []


def attributes_to_get(req: Request) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """Stand-in for the engine's projection: AttributesToGet only."""
    names = req.get("AttributesToGet")
    if names is None:
        if "ProjectionExpression" in req:
            raise ValidationException("ProjectionExpression is not supported yet")
        return None
    return lambda item: {n: item[n] for n in names if n in item}


class FakeStore:
    """Tables of items by encoded key; every call counted in ``calls``."""

    def __init__(self, rng: random.Random | None = None, max_yields: int = 0) -> None:
        self.schemas: dict[str, KeySchema] = {}
        self.data: dict[str, dict[tuple[bytes, bytes], dict[str, Any]]] = {}
        self.calls: Counter[str] = Counter()
        self.gates: dict[str, asyncio.Event] = {}  # op -> released before a read returns / a write applies
        self.failures: dict[str, BaseException] = {}  # op -> raised (once) instead of running
        self.fail_after: dict[str, BaseException] = {}  # op -> raised (once) after it was applied
        self.unprocessed: set[str] = set()  # partition key strings left unprocessed by batch operations
        self.creating: set[str] = set()  # tables DescribeTable shows CREATING (a restore or import filling them)
        self.rng = rng
        self.max_yields = max_yields

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def add_table(self, name: str, hash_name: str = "pk", range_name: str | None = None,
                  hash_type: str = "S", range_type: str = "S") -> None:
        self.schemas[name] = KeySchema(hash_name, hash_type, range_name, range_type if range_name else None)
        self.data[name] = {}

    def get(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        return self.data[table].get(self.schemas[table].key_of_request(copy.deepcopy(key)))

    async def _pause(self) -> None:
        if self.rng is not None and self.max_yields:
            for _ in range(self.rng.randint(0, self.max_yields)):
                await asyncio.sleep(0)

    async def call(self, operation: str, request: Request) -> Response:
        self.calls[operation] += 1
        failure = self.failures.pop(operation, None)
        if failure is not None:
            raise failure
        await self._pause()
        handler = getattr(self, "op_" + operation)
        response: Response = await handler(copy.deepcopy(request))
        await self._pause()
        failure = self.fail_after.pop(operation, None)
        if failure is not None:
            raise failure
        return response

    async def _gate(self, operation: str) -> None:
        gate = self.gates.get(operation)
        if gate is not None:
            await gate.wait()

    def _table(self, name: str) -> tuple[KeySchema, dict[tuple[bytes, bytes], dict[str, Any]]]:
        if name not in self.schemas:
            raise ResourceNotFoundException("Requested resource not found")
        return self.schemas[name], self.data[name]

    # -- control plane -----------------------------------------------------------------------------
    async def op_DescribeTable(self, req: Request) -> Response:
        schema, _ = self._table(req["TableName"])
        keys = [{"AttributeName": schema.hash_name, "KeyType": "HASH"}]
        defs = [{"AttributeName": schema.hash_name, "AttributeType": schema.hash_type}]
        if schema.range_name:
            keys.append({"AttributeName": schema.range_name, "KeyType": "RANGE"})
            defs.append({"AttributeName": schema.range_name, "AttributeType": schema.range_type})
        status = "CREATING" if req["TableName"] in self.creating else "ACTIVE"
        return {"Table": {"TableName": req["TableName"], "KeySchema": keys, "AttributeDefinitions": defs,
                          "TableStatus": status}}

    async def op_CreateTable(self, req: Request) -> Response:
        if req["TableName"] in self.schemas:
            raise ResourceInUseException("Table already exists")
        types = {d["AttributeName"]: d["AttributeType"] for d in req["AttributeDefinitions"]}
        names = [k["AttributeName"] for k in req["KeySchema"]]
        self.add_table(req["TableName"], names[0], names[1] if len(names) > 1 else None, types[names[0]],
                       types[names[1]] if len(names) > 1 else "S")
        return {"TableDescription": {"TableName": req["TableName"]}}

    async def op_DeleteTable(self, req: Request) -> Response:
        self._table(req["TableName"])
        del self.schemas[req["TableName"]], self.data[req["TableName"]]
        return {"TableDescription": {"TableName": req["TableName"]}}

    # -- items -------------------------------------------------------------------------------------
    async def op_GetItem(self, req: Request) -> Response:
        schema, rows = self._table(req["TableName"])
        item = rows.get(schema.key_of_request(req["Key"]))
        await self._gate("GetItem")  # the value was read; the answer is late
        if item is None:
            return {}
        project = attributes_to_get(req)
        return {"Item": project(item) if project else copy.deepcopy(item)}

    async def op_PutItem(self, req: Request) -> Response:
        schema, rows = self._table(req["TableName"])
        key = schema.key_of_item(req["Item"])
        await self._gate("PutItem")
        old = rows.get(key)
        rows[key] = req["Item"]
        return {"Attributes": old} if req.get("ReturnValues") == "ALL_OLD" and old else {}

    async def op_DeleteItem(self, req: Request) -> Response:
        schema, rows = self._table(req["TableName"])
        key = schema.key_of_request(req["Key"])
        await self._gate("DeleteItem")
        old = rows.pop(key, None)
        return {"Attributes": old} if req.get("ReturnValues") == "ALL_OLD" and old else {}

    async def op_UpdateItem(self, req: Request) -> Response:
        schema, rows = self._table(req["TableName"])
        key = schema.key_of_request(req["Key"])
        await self._gate("UpdateItem")
        old = rows.get(key)
        new = copy.deepcopy(old) if old else dict(req["Key"])
        for name, update in (req.get("AttributeUpdates") or {}).items():
            if update.get("Action", "PUT") == "PUT":
                new[name] = update["Value"]
            else:
                new.pop(name, None)
        rows[key] = new
        mode = req.get("ReturnValues", "NONE")
        changed = set(req.get("AttributeUpdates") or ())
        if mode == "ALL_NEW":
            return {"Attributes": new}
        if mode == "ALL_OLD":
            return {"Attributes": old} if old else {}
        if mode in ("UPDATED_NEW", "UPDATED_OLD"):
            source = new if mode == "UPDATED_NEW" else (old or {})
            attrs = {n: v for n, v in source.items() if n in changed}
            return {"Attributes": attrs} if attrs else {}
        return {}

    # -- batches and transactions ------------------------------------------------------------------
    async def op_BatchGetItem(self, req: Request) -> Response:
        responses: dict[str, list[Any]] = {}
        unprocessed: dict[str, Any] = {}
        for name, spec in req["RequestItems"].items():
            schema, rows = self._table(name)
            out = responses.setdefault(name, [])
            project = attributes_to_get(spec)
            for key in spec["Keys"]:
                if key[schema.hash_name].get("S") in self.unprocessed:
                    unprocessed.setdefault(name, {**spec, "Keys": []})["Keys"].append(key)
                    continue
                item = rows.get(schema.key_of_request(key))
                if item is not None:
                    out.append(project(item) if project else copy.deepcopy(item))
        await self._gate("BatchGetItem")
        return {"Responses": responses, "UnprocessedKeys": unprocessed}

    async def op_BatchWriteItem(self, req: Request) -> Response:
        await self._gate("BatchWriteItem")
        unprocessed: dict[str, list[Any]] = {}
        for name, requests in req["RequestItems"].items():
            schema, rows = self._table(name)
            for request in requests:
                ((kind, body),) = request.items()
                item_or_key = body.get("Item") or body.get("Key")
                if item_or_key[schema.hash_name].get("S") in self.unprocessed:
                    unprocessed.setdefault(name, []).append(request)
                elif kind == "PutRequest":
                    rows[schema.key_of_item(body["Item"])] = body["Item"]
                else:
                    rows.pop(schema.key_of_request(body["Key"]), None)
        return {"UnprocessedItems": unprocessed}

    async def op_TransactWriteItems(self, req: Request) -> Response:
        await self._gate("TransactWriteItems")
        plan = []
        for entry in req["TransactItems"]:
            ((kind, body),) = entry.items()
            schema, rows = self._table(body["TableName"])
            if kind == "Put":
                plan.append((rows, schema.key_of_item(body["Item"]), body["Item"]))
            elif kind == "Delete":
                plan.append((rows, schema.key_of_request(body["Key"]), None))
            elif kind == "Update":
                key = schema.key_of_request(body["Key"])
                new = {**(rows.get(key) or body["Key"])}
                for name, update in (body.get("AttributeUpdates") or {}).items():
                    new[name] = update["Value"]
                plan.append((rows, key, new))
            elif body.get("Fail"):
                raise TransactionCanceledException([{"Code": "ConditionalCheckFailed"}])
        for rows, key, new in plan:
            if new is None:
                rows.pop(key, None)
            else:
                rows[key] = new
        return {}

    async def op_TransactGetItems(self, req: Request) -> Response:
        out = []
        for entry in req["TransactItems"]:
            body = entry["Get"]
            schema, rows = self._table(body["TableName"])
            item = rows.get(schema.key_of_request(body["Key"]))
            out.append({"Item": item} if item else {})
        return {"Responses": out}

    # -- query and scan ----------------------------------------------------------------------------
    async def op_Query(self, req: Request) -> Response:
        schema, rows = self._table(req["TableName"])
        if "KeyConditions" in req:
            value = req["KeyConditions"][schema.hash_name]["AttributeValueList"][0]
        else:
            value = simple_key_condition(req, None, schema)[0]
        pk = schema.encode_hash(dict(value))
        matches = sorted((k, v) for k, v in rows.items() if k[0] == pk)
        if req.get("ScanIndexForward") is False:
            matches.reverse()
        return await self._page("Query", req, schema, matches)

    async def op_Scan(self, req: Request) -> Response:
        schema, rows = self._table(req["TableName"])
        return await self._page("Scan", req, schema, sorted(rows.items()))

    async def _page(self, operation: str, req: Request, schema: KeySchema, matches: list[Any]) -> Response:
        start = req.get("ExclusiveStartKey")
        if start is not None:
            after = schema.key_of_request(start)
            keys = [k for k, _ in matches]
            matches = matches[keys.index(after) + 1:] if after in keys else []
        limit = req.get("Limit") or len(matches) + 1
        page = [copy.deepcopy(v) for _, v in matches[:limit]]
        await self._gate(operation)
        out: Response = {"Items": page, "Count": len(page), "ScannedCount": len(page)}
        if len(matches) > limit:
            out["LastEvaluatedKey"] = schema.key_item(page[-1])
        return out


def make_cached(store: FakeStore | None = None, clock: FakeClock | None = None, **config: Any) -> Any:
    """(CachedStore over a FakeStore with tables "t" (pk) and "r" (pk, sk), the fake, the clock)."""
    from accelerator.cache import CachedStore
    from accelerator.config import CacheConfig

    if store is None:
        store = FakeStore()
        store.add_table("t")
        store.add_table("r", range_name="sk")
    clock = clock or FakeClock()
    return CachedStore(store, CacheConfig(**config), clock=clock), store, clock


def run(coro: Any) -> Any:
    return asyncio.run(coro)
