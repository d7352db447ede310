"""Control plane: table definitions, their DescribeTable form, and the in-process table registry."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from accelerator.core.errors import ResourceNotFoundException, ValidationException
from accelerator.core.keys import KeySchema
from accelerator.core.protocols import Storage
from accelerator.core.tables import TableDef
from accelerator.engine.indexes import describe_indexes, parse_indexes

__all__ = ["TableRegistry", "table_from_request", "describe", "REGION", "ACCOUNT"]

REGION = _REGION = "ddblocal"  # what ARNs name (and stream records' awsRegion)
ACCOUNT = _ACCOUNT = "000000000000"
_DEF_TTL = 1.0


def _key_schema(elements: list[dict[str, str]], types: dict[str, str], where: str,
                indexed: bool = True) -> KeySchema:
    hashes = [e["AttributeName"] for e in elements if e["KeyType"] == "HASH"]
    ranges = [e["AttributeName"] for e in elements if e["KeyType"] == "RANGE"]
    if len(hashes) != 1 or elements[0]["KeyType"] != "HASH":
        raise ValidationException(f"Invalid KeySchema: The first KeySchemaElement is not a HASH key type{where}")
    if len(ranges) > 1:
        raise ValidationException(f"Too many range keys{where}")
    for name in hashes + ranges:
        if name not in types:
            if not indexed:  # a table without indexes: DynamoDB's shorter words
                raise ValidationException("Invalid KeySchema: Some index key attribute have no definition")
            raise ValidationException(
                "One or more parameter values were invalid: Some index key attributes are not defined in "
                f"AttributeDefinitions. Keys: [{', '.join(hashes + ranges)}], AttributeDefinitions: "
                f"[{', '.join(types)}]")
    if ranges and ranges[0] == hashes[0]:
        raise ValidationException("Both the Hash Key and the Range Key element in the KeySchema have the same name")
    return KeySchema(hashes[0], types[hashes[0]], ranges[0] if ranges else None,
                     types[ranges[0]] if ranges else None)


def table_from_request(req: dict[str, Any]) -> TableDef:
    """Check a CreateTable request semantically and turn it into a TableDef."""
    types: dict[str, str] = {}
    for definition in req["AttributeDefinitions"]:
        name = definition["AttributeName"]
        if name in types:
            raise ValidationException("Cannot have two attributes with the same name. Duplicate AttributeName in "
                                      f"AttributeDefinitions: {name}")
        types[name] = definition["AttributeType"]
    key = _key_schema(req["KeySchema"], types, "",
                      indexed=bool(req.get("LocalSecondaryIndexes") or req.get("GlobalSecondaryIndexes")))
    billing = req.get("BillingMode", "PROVISIONED")
    indexes, index_keys, gsi_throughput = parse_indexes(req, types, key, billing)
    used = set(key.names) | index_keys
    if set(types) - used:
        raise ValidationException(
            "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly "
            "match number of attributes defined in AttributeDefinitions")
    throughput = req.get("ProvisionedThroughput")
    if billing == "PROVISIONED" and throughput is None:
        raise ValidationException(
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be "
            "specified when BillingMode is PROVISIONED")
    if billing == "PAY_PER_REQUEST" and throughput is not None:
        raise ValidationException(
            "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be "
            "specified when BillingMode is PAY_PER_REQUEST")
    extra: dict[str, Any] = {}
    if indexes:
        extra["indexes"] = indexes
    if gsi_throughput:
        extra["gsi_throughput"] = gsi_throughput
    for member in ("SSESpecification", "TableClass", "DeletionProtectionEnabled"):  # streams: stream_state
        if member in req:
            extra[member] = req[member]
    return TableDef(
        name=req["TableName"], key=key, attribute_definitions=tuple(types.items()), created=time.time(),
        billing_mode=billing, provisioned=throughput, extra=extra,
    )


def describe(table: TableDef, status: str = "ACTIVE") -> dict[str, Any]:
    """The TableDescription DynamoDB returns for a table."""
    key = [{"AttributeName": table.key.hash_name, "KeyType": "HASH"}]
    if table.key.range_name is not None:
        key.append({"AttributeName": table.key.range_name, "KeyType": "RANGE"})
    throughput = table.provisioned or {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0}
    desc: dict[str, Any] = {
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in table.attribute_definitions],
        "TableName": table.name,
        "KeySchema": key,
        "TableStatus": status,
        "CreationDateTime": table.created,
        "ProvisionedThroughput": {"NumberOfDecreasesToday": 0, **throughput},
        "TableSizeBytes": 0,
        "ItemCount": 0,
        "TableArn": f"arn:aws:dynamodb:{_REGION}:{_ACCOUNT}:table/{table.name}",
        "TableId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{table.name}@{table.created!r}")),
        "DeletionProtectionEnabled": bool(table.extra.get("DeletionProtectionEnabled", False)),
    }
    if table.billing_mode == "PAY_PER_REQUEST":
        desc["BillingModeSummary"] = {"BillingMode": "PAY_PER_REQUEST",
                                      "LastUpdateToPayPerRequestDateTime": table.created}
    for member in ("SSESpecification",):
        if member in table.extra:
            desc[member] = table.extra[member]
    desc.update(describe_indexes(table))
    if status == "ACTIVE" and any(i["IndexStatus"] != "ACTIVE" for i in desc.get("GlobalSecondaryIndexes", ())):
        desc["TableStatus"] = "UPDATING"  # as DynamoDB's table is while UpdateTable builds an index
    if "TableClass" in table.extra:
        desc["TableClassSummary"] = {"TableClass": table.extra["TableClass"]}
    return desc


class TableRegistry:
    """Table definitions read through from storage, cached briefly so several processes agree soon."""

    def __init__(self, storage: Storage, ttl: float = _DEF_TTL,
                 filling: Callable[[str], Awaitable[bool]] | None = None) -> None:
        self.storage = storage
        self.ttl = ttl
        self.filling = filling
        """Whether a restore or an import still fills the named table (it is CREATING: no data plane yet)."""
        self._cache: dict[str, tuple[float, TableDef, bool]] = {}
        self._forgets = 0  # a read that spans a forget() must not cache what it read before it

    async def get(self, name: Any) -> TableDef:
        """The table named ``name`` (whatever its status) or ResourceNotFoundException."""
        entry = self._cache.get(name)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        return (await self._load(name))[1]

    async def active(self, name: Any) -> TableDef:
        """The table for an item operation: DynamoDB's data plane does not find a table still CREATING."""
        entry = self._cache.get(name)
        # A table seen filling is read again every time: the fill's end (its catalog record deleted) must show
        # at once, as DescribeTable shows ACTIVE at once; only a table not filling is trusted for the TTL.
        if entry is None or entry[2] or entry[0] <= time.monotonic():
            entry = await self._load(name)
        if entry[2]:
            raise ResourceNotFoundException("Requested resource not found")
        return entry[1]

    async def _load(self, name: Any) -> tuple[float, TableDef, bool]:
        if not isinstance(name, str):
            raise ValidationException("TableName must be a string")
        forgets = self._forgets
        table = await self.storage.get_table(name)
        if table is None:
            self._cache.pop(name, None)
            raise ResourceNotFoundException("Requested resource not found")
        filling = self.filling is not None and await self.filling(name)
        entry = (time.monotonic() + self.ttl, table, filling)
        if forgets == self._forgets:
            self._cache[name] = entry
        return entry

    def forget(self, name: str) -> None:
        self._forgets += 1
        self._cache.pop(name, None)
