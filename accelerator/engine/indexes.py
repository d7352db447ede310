"""Secondary indexes (local and global): definitions, validation, and the layout of their entries.

An index is a storage table of its own, named ``<table>!<index>`` (``!`` cannot appear in a DynamoDB
name, so it never collides). An entry's partition key is the item's index partition key (the tuple of
its HASH values for a multi-attribute key); its sort key is ``esc(r1) + ... + esc(rn) + esc(table pk) +
table sk`` over the index's RANGE values (``accelerator.core.composite``), so entries sort by the index
sort key element by element, one entry per item, and a key condition is a byte range over the entry sort
key. Its value is the projected item. An item lacking any of the index's key attributes has no entry.

Entries are written in the same atomic unit as the item (``accelerator.engine.indexed_storage``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from accelerator.core.composite import MAX_KEY_ATTRIBUTES, CompositeKey, escape, tuple_range
from accelerator.core.errors import ValidationException
from accelerator.core.keys import KeySchema, encode_key_value
from accelerator.core.protocols import Bound
from accelerator.core.tables import TableDef

__all__ = ["IndexDef", "indexes_of", "with_override", "storage_def", "OVERRIDE_PREFIX",
           "index_key", "index_projection", "parse_indexes", "describe_indexes", "key_names",
           "entry_range", "SEPARATOR", "META"]

SEPARATOR = "!"
_NAME = re.compile(r"[a-zA-Z0-9_.-]+\Z")
_INVALID = "One or more parameter values were invalid: "
_MAX_HASH = 2048
_MAX_RANGE = 1024


def entry_range(prefix: bytes, lower: bytes | None, lower_inclusive: bool, upper: bytes | None,
                upper_inclusive: bool) -> tuple[Bound | None, Bound | None]:
    """Bounds on the entry sort key for equality on the leading RANGE values (their escaped ``prefix``) and
    a range on the next one (or on none)."""
    return tuple_range(prefix, lower, lower_inclusive, upper, upper_inclusive)


def key_names(spec: dict[str, Any]) -> tuple[str, ...]:
    """The key attributes of an index in its stored form."""
    return CompositeKey.from_spec(spec).names


@dataclass(frozen=True, slots=True)
class IndexDef:
    """One secondary index of a table."""

    name: str
    is_global: bool
    key: CompositeKey
    projection: str
    non_key: tuple[str, ...]
    table_key: KeySchema
    storage_name: str
    status: str = "ACTIVE"  # CREATING while an index added by UpdateTable is being backfilled

    def composite(self, item: dict[str, Any]) -> tuple[bytes, bytes] | None:
        """(entry pk, entry sk) of an item, or None when the item lacks an index key attribute (sparse)."""
        parts: list[bytes] = []
        for name, key_type in self.key.hashes:
            value = item.get(name)
            if value is None:
                return None
            parts.append(self._component(name, key_type, value, _MAX_HASH))
        sort = []
        for name, key_type in self.key.ranges:
            value = item.get(name)
            if value is None:
                return None
            sort.append(escape(self._component(name, key_type, value, _MAX_RANGE)))
        table_pk, table_sk = self.table_key.key_of_item(item)
        sort.append(escape(table_pk))
        sort.append(table_sk)
        return self.key.partition(parts), b"".join(sort)

    def _component(self, name: str, key_type: str, value: Any, limit: int) -> bytes:
        (tag, raw), = value.items()
        if tag != key_type:
            raise ValidationException(
                f"{_INVALID}Type mismatch for Index Key {name} Expected: {key_type} Actual: {tag} IndexName: {self.name}")
        encoded = encode_key_value(key_type, raw)
        if not encoded:
            raise ValidationException(
                "One or more parameter values are not valid. A value specified for a secondary index key is not "
                "supported. The AttributeValue for a key attribute cannot contain an empty string value. "
                f"IndexName: {self.name}, IndexKey: {name}")
        if len(encoded) > limit:  # DynamoDB's key limits hold for index keys too; a backfill skips such items
            raise ValidationException(
                f"{_INVALID}Size of {'hashkey' if limit == _MAX_HASH else 'rangekey'} has exceeded the maximum "
                f"size limit of {limit} bytes for the index key {name} of index {self.name}")
        return encoded

    def project(self, item: dict[str, Any]) -> dict[str, Any]:
        if self.projection == "ALL":
            return item
        keep = set(self.key.names) | set(self.table_key.names) | set(self.non_key)
        return {k: v for k, v in item.items() if k in keep}

    def start_key(self, start: dict[str, Any]) -> tuple[bytes, bytes]:
        """(entry pk, entry sk) of an ExclusiveStartKey given for this index."""
        names = set(self.key.names) | set(self.table_key.names)
        if set(start) != names:
            raise ValidationException("The provided starting key is invalid: The provided key element does not "
                                      "match the schema")
        for name in self.table_key.names:
            self.table_key.key_of_item({**start, name: start[name]})
        entry = self.composite(start)
        if entry is None:
            raise ValidationException("The provided starting key is invalid")
        return entry

    def last_key(self, item: dict[str, Any]) -> dict[str, Any]:
        names = dict.fromkeys((*self.table_key.names, *self.key.names))
        return {name: item[name] for name in names}

    def describe(self, table: TableDef) -> dict[str, Any]:
        key = self.key.key_schema()
        projection: dict[str, Any] = {"ProjectionType": self.projection}
        if self.non_key:
            projection["NonKeyAttributes"] = list(self.non_key)
        desc: dict[str, Any] = {
            "IndexName": self.name, "KeySchema": key, "Projection": projection, "IndexSizeBytes": 0, "ItemCount": 0,
            "IndexArn": f"arn:aws:dynamodb:ddblocal:000000000000:table/{table.name}/index/{self.name}",
        }
        if self.is_global:
            desc["IndexStatus"] = self.status
            if self.status == "CREATING":
                desc["Backfilling"] = True
            throughput = table.extra.get("gsi_throughput", {}).get(self.name) or {"ReadCapacityUnits": 0,
                                                                                  "WriteCapacityUnits": 0}
            desc["ProvisionedThroughput"] = {"NumberOfDecreasesToday": 0, **throughput}
        return desc


def index_key(spec: dict[str, Any], types: dict[str, str], name: str, is_global: bool = True) -> CompositeKey:
    """An index's KeySchema, checked as DynamoDB checks it: a GSI takes up to four HASH then up to four RANGE
    attributes, an LSI one of each."""
    elements = spec.get("KeySchema") or []
    if not elements or elements[0].get("KeyType") != "HASH":
        raise ValidationException(f"{_INVALID}Invalid KeySchema for index: {name}: The first KeySchemaElement is "
                                  "not a HASH key type")
    names = [e["AttributeName"] for e in elements]
    kinds = [e.get("KeyType") for e in elements]
    limit = MAX_KEY_ATTRIBUTES if is_global else 1
    for kind in ("HASH", "RANGE"):
        if kinds.count(kind) > limit:
            raise ValidationException(f"{_INVALID}The KeySchema exceeds the maximum allowed number of {kind} key "
                                      "attributes")
    first_range = kinds.index("RANGE") if "RANGE" in kinds else len(kinds)
    if "HASH" in kinds[first_range:]:
        raise ValidationException(f"{_INVALID}All HASH key attributes must precede RANGE key attributes in the "
                                  "KeySchema")
    if len(set(names)) != len(names):
        if kinds == ["HASH", "RANGE"]:
            raise ValidationException("Both the Hash Key and the Range Key element in the KeySchema have the same name")
        duplicate = next(n for n in names if names.count(n) > 1)
        raise ValidationException(f"{_INVALID}Duplicate attribute name in KeySchema: {duplicate}")
    for attr in names:
        if attr not in types:
            raise ValidationException(
                f"{_INVALID}Some index key attributes are not defined in AttributeDefinitions. Keys: "
                f"[{', '.join(names)}], AttributeDefinitions: [{', '.join(types)}]")
    hashes = tuple((n, types[n]) for n, k in zip(names, kinds, strict=True) if k == "HASH")
    ranges = tuple((n, types[n]) for n, k in zip(names, kinds, strict=True) if k == "RANGE")
    return CompositeKey(hashes, ranges)


def index_projection(spec: dict[str, Any], name: str) -> tuple[str, tuple[str, ...]]:
    projection = spec.get("Projection")
    if not isinstance(projection, dict):
        raise ValidationException(f"{_INVALID}Projection must be specified for index: {name}")
    kind = projection.get("ProjectionType")
    if kind not in ("ALL", "KEYS_ONLY", "INCLUDE"):
        raise ValidationException(f"{_INVALID}Unknown ProjectionType: {'null' if kind is None else kind}")
    non_key = projection.get("NonKeyAttributes")
    if kind == "INCLUDE" and not non_key:
        raise ValidationException(f"{_INVALID}ProjectionType is INCLUDE, but NonKeyAttributes is not specified")
    if kind != "INCLUDE" and non_key:
        raise ValidationException(
            f"{_INVALID}ProjectionType is {kind}, but NonKeyAttributes is specified")
    if non_key and len(set(non_key)) != len(non_key):
        raise ValidationException("Cannot have two attributes with the same name")
    return kind, tuple(non_key or ())


def parse_indexes(req: dict[str, Any], types: dict[str, str], table_key: KeySchema,
                  billing: str) -> tuple[list[dict[str, Any]], set[str], dict[str, Any]]:
    """Validate a CreateTable's indexes; returns their stored form, the key attributes they use, and GSI
    throughput."""
    stored: list[dict[str, Any]] = []
    used: set[str] = set()
    throughput: dict[str, Any] = {}
    seen: set[str] = set()
    for member in ("LocalSecondaryIndexes", "GlobalSecondaryIndexes"):
        if member in req and not req[member]:
            raise ValidationException(f"{_INVALID}List of {member} is empty")
    local, global_ = req.get("LocalSecondaryIndexes") or [], req.get("GlobalSecondaryIndexes") or []
    if len(local) > 5:
        raise ValidationException(f"{_INVALID}Cannot have more than 5 local secondary indexes per table")
    if len(global_) > 20:
        raise ValidationException(f"{_INVALID}GlobalSecondaryIndexes: number of indexes exceeds the limit of 20")
    for is_global, specs in ((False, local), (True, global_)):
        for spec in specs:
            if not isinstance(spec, dict) or not isinstance(spec.get("IndexName"), str):
                raise ValidationException(f"{_INVALID}IndexName must be specified for every index")
            name = spec["IndexName"]
            if not 3 <= len(name) <= 255 or not _NAME.match(name):
                raise ValidationException(
                    f"1 validation error detected: Value '{name}' at 'indexName' failed to satisfy constraint: "
                    "Member must have length between 3 and 255 and match [a-zA-Z0-9_.-]+")
            if name in seen:
                raise ValidationException(f"{_INVALID}Duplicate index name: {name}")
            seen.add(name)
            key = index_key(spec, types, name, is_global)
            if not is_global:
                lsi = key.single()
                if table_key.range_name is None:
                    raise ValidationException(
                        f"{_INVALID}Table KeySchema does not have a range key, which is required when specifying a "
                        "LocalSecondaryIndex")
                if lsi.hash_name != table_key.hash_name:
                    raise ValidationException(
                        f"{_INVALID}Index KeySchema does not have the same leading hash key as table KeySchema for "
                        f"index: {name}. index hash key: {lsi.hash_name}, table hash key: {table_key.hash_name}")
                if lsi.range_name is None:
                    raise ValidationException(f"{_INVALID}Index KeySchema must have a range key for index: {name}")
            else:
                provisioned = spec.get("ProvisionedThroughput")
                if billing == "PROVISIONED" and provisioned is None:
                    raise ValidationException(f"{_INVALID}ProvisionedThroughput must be specified for index: {name}")
                if billing == "PAY_PER_REQUEST" and provisioned is not None:
                    raise ValidationException(
                        f"{_INVALID}ProvisionedThroughput should not be specified for index: {name} when "
                        "BillingMode is PAY_PER_REQUEST")
                if provisioned is not None:
                    throughput[name] = provisioned
            kind, non_key = index_projection(spec, name)
            used.update(key.names)
            stored.append({"name": name, "global": is_global, **key.to_spec(), "projection": kind,
                           "non_key": list(non_key)})
    return stored, used, throughput


_CACHE: dict[tuple[str, float, int], tuple[IndexDef, ...]] = {}
OVERRIDE_PREFIX = b"indexes:"  # meta record of a table whose indexes UpdateTable changed
META = "!meta"


def indexes_of(table: TableDef) -> tuple[IndexDef, ...]:
    """The table's indexes (parsed once per table definition and index version)."""
    cache_key = (table.name, table.created, int(table.extra.get("indexes_version", 0)))
    found = _CACHE.get(cache_key)
    if found is not None:
        return found
    defs = tuple(
        IndexDef(spec["name"], spec["global"], CompositeKey.from_spec(spec), spec["projection"],
                 tuple(spec["non_key"]), table.key, spec.get("storage") or f"{table.name}{SEPARATOR}{spec['name']}",
                 spec.get("status", "ACTIVE"))
        for spec in table.extra.get("indexes", ()))
    _CACHE[cache_key] = defs
    return defs


def with_override(table: TableDef, record: dict[str, Any] | None) -> TableDef:
    """The table as UpdateTable left it: its created definition with the recorded index changes applied."""
    if record is None or record.get("created") != table.created:
        return table
    extra = {**table.extra, "indexes": record["indexes"], "gsi_throughput": record.get("gsi_throughput", {}),
             "indexes_version": record["version"]}
    attrs = tuple((name, kind) for name, kind in record["attrs"])
    return TableDef(name=table.name, key=table.key, attribute_definitions=attrs, created=table.created,
                    billing_mode=table.billing_mode, provisioned=table.provisioned, extra=extra)


def describe_indexes(table: TableDef) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for index in indexes_of(table):
        member = "GlobalSecondaryIndexes" if index.is_global else "LocalSecondaryIndexes"
        out.setdefault(member, []).append(index.describe(table))
    return out


def storage_def(index: IndexDef, created: float) -> TableDef:
    # The storage table's key names are labels only (backends compare bytes); a tuple partition is binary.
    hash_name, hash_type = index.key.hashes[0] if len(index.key.hashes) == 1 else ("__partition", "B")
    key = KeySchema(hash_name, hash_type, "__entry", "B")
    return TableDef(name=index.storage_name, key=key, attribute_definitions=(), created=created)
