"""What a request asks for, in IAM terms: one ``Target`` (action, resource, condition-key sources) per
table, index or item it touches. Condition values are computed only when a policy reads them.

Batch requests give one target per table whose ``dynamodb:LeadingKeys`` holds every item's partition
key; transactions give one target per item with the action of its kind (GetItem, PutItem, UpdateItem,
DeleteItem, ConditionCheckItem), as DynamoDB authorizes them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from typing import Any

from accelerator.core.errors import DynamoError
from accelerator.core.values import normalize_number
from accelerator.expressions import (
    parse_condition,
    parse_filter,
    parse_key_condition,
    parse_projection,
    parse_update,
)
from accelerator.expressions.tree import (
    And,
    Arithmetic,
    Between,
    Call,
    Compare,
    In,
    NameRef,
    Node,
    Not,
    Or,
    Path,
)
from accelerator.policy.conditions import UNKNOWN

__all__ = ["Target", "targets", "attributes", "select_of", "REGION", "ACCOUNT", "table_arn", "principal_arn"]

REGION = "ddblocal"
ACCOUNT = "000000000000"
"""The region and account in this server's ARNs (DescribeTable's TableArn uses the same)."""

_ACCOUNT_LEVEL = frozenset(("ListTables", "DescribeLimits", "DescribeEndpoints", "ListBackups", "ListExports",
                            "ListImports", "ListStreams"))
_ARN_MEMBER = {"TagResource": "ResourceArn", "UntagResource": "ResourceArn", "ListTagsOfResource": "ResourceArn",
               "DeleteBackup": "BackupArn", "DescribeBackup": "BackupArn", "DescribeExport": "ExportArn",
               "DescribeImport": "ImportArn", "ExportTableToPointInTime": "TableArn", "DescribeStream": "StreamArn",
               "GetShardIterator": "StreamArn"}
"""Operations on a resource named by an ARN in the request rather than by TableName."""
_READS = frozenset(("ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES"))


def table_arn(table: str, index: str | None = None) -> str:
    base = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
    return base if index is None else f"{base}/index/{index}"


def principal_arn(access_key: str | None) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{access_key or 'anonymous'}"


class Target:
    """One authorization question: may the key do ``action`` on ``resource``, given these sources?"""

    __slots__ = ("action", "resource", "table", "index", "kind", "part", "keys", "query")

    def __init__(self, action: str, table: str | None, kind: str = "", part: Mapping[str, Any] | None = None,
                 keys: list[Any] | None = None, index: str | None = None, resource: str | None = None,
                 query: bool = False) -> None:
        self.action = "dynamodb:" + action
        self.table = table
        self.index = index
        table = _named(table)
        if resource is None:  # a malformed request may name no table: only a Resource "*" covers it
            resource = table_arn(table, index if isinstance(index, str) else None) if isinstance(table, str) else "*"
        self.resource = resource
        self.kind = kind
        """How to read dynamodb:Attributes from ``part``: read, put, update, delete, check, query, scan, write."""
        self.part: Mapping[str, Any] = part or {}
        self.keys = keys
        """Key maps or items whose partition key values are the request's leading keys."""
        self.query = query


def targets(operation: str, request: Mapping[str, Any]) -> list[Target]:
    """The targets of a shape-checked request. Members the shape check leaves unchecked are read defensively:
    whatever cannot be read becomes an unknown key (None) or the resource "*", never a dropped target."""
    table = request.get("TableName")
    if operation == "GetItem":
        return [Target("GetItem", table, "read", request, [request.get("Key")])]
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        source = request.get("Item") if operation == "PutItem" else request.get("Key")
        return [Target(operation, table, operation[:-4].lower(), request, [source])]
    if operation in ("Query", "Scan"):
        return [Target(operation, table, operation.lower(), request, index=request.get("IndexName"),
                       query=operation == "Query")]
    if operation == "BatchGetItem":
        found = []
        for name, entry in _map(request.get("RequestItems")):
            entry = _dict(entry)
            found.append(Target("BatchGetItem", name, "read", entry, _list(entry.get("Keys"))))
        return found
    if operation == "BatchWriteItem":
        return [Target("BatchWriteItem", name, "write", {"entries": _list(entries)},
                       [_write_key(e) for e in _list(entries)])
                for name, entries in _map(request.get("RequestItems"))]
    if operation == "TransactGetItems":
        gets = [_dict(_dict(e).get("Get")) for e in _list(request.get("TransactItems"))]
        return [Target("GetItem", get.get("TableName"), "read", get, [get.get("Key")]) for get in gets]
    if operation == "TransactWriteItems":
        return [_transact_target(_dict(e)) for e in _list(request.get("TransactItems"))]
    if operation == "GetRecords":
        return [Target(operation, None, resource=_iterator_stream(request.get("ShardIterator")))]
    if operation in _ACCOUNT_LEVEL:
        return [Target(operation, None, resource="*")]
    member = _ARN_MEMBER.get(operation)
    if member is not None:
        return [Target(operation, None, resource=_arn_resource(operation, request.get(member)))]
    if operation == "RestoreTableFromBackup":  # both the backup read and the table created
        return [Target(operation, None, resource=_arn_resource(operation, request.get("BackupArn"))),
                Target(operation, request.get("TargetTableName"))]
    if operation == "RestoreTableToPointInTime":
        source = request.get("SourceTableArn")
        return [Target(operation, None, resource=_arn_resource(operation, source)) if isinstance(source, str) else
                Target(operation, request.get("SourceTableName")), Target(operation, request.get("TargetTableName"))]
    if operation == "ImportTable":
        table = _dict(request.get("TableCreationParameters")).get("TableName")
    # The control plane (CreateTable, DescribeTable, UpdateTable, CreateBackup, ...) names its table; an
    # operation without one is on "*", which only a Resource "*" statement covers.
    return [Target(operation, table)]


_ARN_TABLE = ":table/"
_TABLE_ONLY = frozenset(("TagResource", "UntagResource", "ListTagsOfResource", "ExportTableToPointInTime"))
"""Operations whose ARN names a table whatever follows its name (tags on a stream ARN are the table's)."""


def _named(table: Any) -> Any:
    """A TableName the store may take as an ARN (backups, continuous backups): the table's name, which is
    what the store reads out of it, whatever the ARN's region and account."""
    if isinstance(table, str) and table.startswith("arn:") and _ARN_TABLE in table:
        return table.split(_ARN_TABLE, 1)[1].split("/", 1)[0]
    return table


def _arn_resource(operation: str, arn: Any) -> str:
    """The resource an ARN member names, as this server's ARN of the table the store will find: the store
    reads only the name after ":table/", so "arn:aws:dynamodb:us-east-1:1:table/T" must be judged as T."""
    text = str(arn)
    if not (text.startswith("arn:") and _ARN_TABLE in text):
        return text
    name, _, rest = text.split(_ARN_TABLE, 1)[1].partition("/")
    return table_arn(name) if operation in _TABLE_ONLY or not rest else f"{table_arn(name)}/{rest}"


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    """A list member's elements; anything else is one unreadable element (so its target is kept)."""
    return value if isinstance(value, list) and value else [None]


def _map(value: Any) -> Iterable[tuple[Any, Any]]:
    """A map member's (name, value) pairs; anything else is one pair naming no table."""
    return value.items() if isinstance(value, dict) and value else [(None, None)]


def _iterator_stream(iterator: Any) -> str:
    """The stream ARN a shard iterator names (its payload is base64 JSON: table, stream label, ...), or "*".

    Only read here, not verified: GetRecords refuses an iterator whose MAC does not match before it reads.
    """
    try:
        payload = str(iterator).partition(".")[0]
        table, label = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))[:2]
    except (ValueError, TypeError, binascii.Error):
        return "*"
    return f"{table_arn(str(table))}/stream/{label}"


def _write_key(entry: Any) -> Any:
    entry = _dict(entry)
    if "PutRequest" in entry:
        return _dict(entry["PutRequest"]).get("Item")
    return _dict(entry.get("DeleteRequest")).get("Key")


_TRANSACT_KINDS = {"Put": ("PutItem", "put", "Item"), "Update": ("UpdateItem", "update", "Key"),
                   "Delete": ("DeleteItem", "delete", "Key"), "ConditionCheck": ("ConditionCheckItem", "check", "Key")}


def _transact_target(entry: Mapping[str, Any]) -> Target:
    for member, (action, kind, key_field) in _TRANSACT_KINDS.items():
        part = entry.get(member)
        if isinstance(part, dict):
            return Target(action, part.get("TableName"), kind, part, [part.get(key_field)])
    return Target("TransactWriteItems", None)  # no readable action: only a Resource "*" statement covers it


# -- dynamodb:Attributes ---------------------------------------------------------------------------------------
class _Unresolved(Exception):
    pass


def _walk(node: Node, names: Mapping[str, Any], out: set[str]) -> None:
    if isinstance(node, Path):
        first = node.elements[0]
        if isinstance(first, NameRef):
            resolved = names.get(first.ref)
            if not isinstance(resolved, str):
                raise _Unresolved(first.ref)
            out.add(resolved)
        else:
            out.add(str(first))
    elif isinstance(node, (Compare, And, Or, Arithmetic)):
        _walk(node.left, names, out)
        _walk(node.right, names, out)
    elif isinstance(node, Between):
        for n in (node.subject, node.low, node.high):
            _walk(n, names, out)
    elif isinstance(node, In):
        for n in (node.subject, *node.options):
            _walk(n, names, out)
    elif isinstance(node, Call):
        for n in node.args:
            _walk(n, names, out)
    elif isinstance(node, Not):
        _walk(node.operand, names, out)


_NAMES: dict[tuple[Any, ...], frozenset[str]] = {}
"""(field, text, names) -> the attribute names the expression uses; bounded, cleared when full."""


def _expressions(part: Mapping[str, Any], out: set[str], *fields: str) -> None:
    names = part.get("ExpressionAttributeNames") or {}
    for name in fields:
        text = part.get(name)
        if not text:
            continue
        # Only small expressions are remembered, so the memo stays small whatever clients send.
        memo = (name, text, *names.items()) if isinstance(names, dict) and len(names) <= 32 and \
            len(text) <= 1024 else None
        found = _NAMES.get(memo) if memo is not None else None
        if found is None:
            found = _expression_names(name, text, names)
            if memo is not None:
                if len(_NAMES) >= 4096:
                    _NAMES.clear()
                _NAMES[memo] = found
        out.update(found)


def _expression_names(name: str, text: str, names: Mapping[str, Any]) -> frozenset[str]:
    out: set[str] = set()
    if name == "ProjectionExpression":
        for path in parse_projection(text).paths:
            _walk(path, names, out)
    elif name == "UpdateExpression":
        for action in parse_update(text).actions:
            _walk(action.path, names, out)
            value = getattr(action, "value", None)
            if value is not None:
                _walk(value, names, out)
    elif name == "KeyConditionExpression":
        _walk(parse_key_condition(text).root, names, out)
    elif name == "FilterExpression":
        _walk(parse_filter(text).root, names, out)
    else:
        _walk(parse_condition(text).root, names, out)
    return frozenset(out)


def _legacy(part: Mapping[str, Any], out: set[str], *fields: str) -> None:
    for name in fields:
        value = part.get(name)
        if isinstance(value, dict):
            out.update(value)
        elif isinstance(value, list):
            out.update(v for v in value if isinstance(v, str))


def _returns_all(part: Mapping[str, Any], *values: str) -> bool:
    return part.get("ReturnValues") in values or part.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"


def _read_names(part: Mapping[str, Any], out: set[str]) -> bool:
    """Add a read's projected names; False when it projects nothing (the whole item)."""
    before = len(out)
    _expressions(part, out, "ProjectionExpression")
    _legacy(part, out, "AttributesToGet")
    return len(out) > before or bool(part.get("ProjectionExpression") or part.get("AttributesToGet"))


def attributes(target: Target) -> Any:
    """The attribute names the target reads, writes or evaluates, as a tuple; UNKNOWN for the whole item."""
    part, kind = target.part, target.kind
    out: set[str] = set()
    try:
        if kind == "read":
            if not _read_names(part, out):
                return UNKNOWN
            for key in target.keys or ():
                out.update(key or ())
        elif kind == "delete" or (kind == "put" and _returns_all(part, "ALL_OLD")) or \
                (kind == "update" and _returns_all(part, "ALL_OLD", "ALL_NEW")) or \
                (kind == "check" and _returns_all(part)):
            return UNKNOWN
        elif kind in ("put", "update", "check"):
            for key in target.keys or ():
                out.update(key or ())
            _expressions(part, out, "ConditionExpression", "UpdateExpression")
            _legacy(part, out, "Expected", "AttributeUpdates")
        elif kind == "write":
            if any(not isinstance(e, dict) or "PutRequest" not in e for e in part["entries"] or ()):
                return UNKNOWN  # a DeleteRequest removes the whole item
            for item in target.keys or ():
                out.update(item or ())
        elif kind in ("query", "scan"):
            select = part.get("Select")
            if select in _READS or (select != "COUNT" and not _read_names(part, out)):
                return UNKNOWN
            _expressions(part, out, "KeyConditionExpression", "FilterExpression")
            _legacy(part, out, "KeyConditions", "QueryFilter", "ScanFilter", "ExclusiveStartKey")
        else:
            return None
    except Exception:  # noqa: BLE001 - an expression we cannot read names unknown attributes: fail closed
        return UNKNOWN
    return tuple(out)


def select_of(target: Target) -> str | None:
    """dynamodb:Select: as given, or what DynamoDB does without it (reads only)."""
    if target.kind not in ("read", "query", "scan"):
        return None
    part = target.part
    select = part.get("Select")
    if isinstance(select, str):
        return select
    if part.get("ProjectionExpression") or part.get("AttributesToGet"):
        return "SPECIFIC_ATTRIBUTES"
    return "ALL_PROJECTED_ATTRIBUTES" if target.index else "ALL_ATTRIBUTES"


def key_values(keys: Iterable[Any], hash_name: str) -> tuple[str, ...] | None:
    """The partition key values (as strings, see ``_scalar``); None if a key lacks the attribute."""
    found = []
    for key in keys:
        value = key.get(hash_name) if isinstance(key, dict) else None
        text = _scalar(value)
        if text is None:
            return None
        found.append(text)
    return tuple(found)


def _scalar(value: Any) -> str | None:
    """A key value as policies compare it: S and B as sent (the store takes B only in canonical base64), N in
    DynamoDB's canonical form, since "2.0", "02" and "2e0" name the same item as "2" (a Deny on "2" must meet
    them all); a number the store would refuse is None (unknown: fail closed)."""
    if isinstance(value, dict) and len(value) == 1:
        (kind, text), = value.items()
        if kind in ("S", "B") and isinstance(text, str):
            return text
        if kind == "N" and isinstance(text, str):
            try:
                return normalize_number(text)
            except DynamoError:
                return None
    return None


def query_partition(request: Mapping[str, Any], hash_name: str) -> str | None:
    """The partition key value a Query's key condition sets with ``=``; None if it names none."""
    legacy = request.get("KeyConditions")
    if isinstance(legacy, dict):
        cond = legacy.get(hash_name)
        if isinstance(cond, dict) and cond.get("ComparisonOperator") == "EQ":
            values = cond.get("AttributeValueList") or []
            return _scalar(values[0]) if len(values) == 1 else None
        return None
    text = request.get("KeyConditionExpression")
    if not isinstance(text, str):
        return None
    try:
        root = parse_key_condition(text).root
    except Exception:  # noqa: BLE001 - the store answers the parse error; here it names no partition
        return None
    names = request.get("ExpressionAttributeNames") or {}
    values = request.get("ExpressionAttributeValues") or {}
    found: list[str | None] = []
    _equalities(root, names, values, hash_name, found)
    return found[0] if len(found) == 1 else None


def _equalities(node: Node, names: Mapping[str, Any], values: Mapping[str, Any], hash_name: str,
                found: list[str | None]) -> None:
    if isinstance(node, And):
        _equalities(node.left, names, values, hash_name, found)
        _equalities(node.right, names, values, hash_name, found)
        return
    if isinstance(node, Compare):
        sides = (node.left, node.right)
        for this, other in (sides, sides[::-1]):
            if isinstance(this, Path) and len(this.elements) == 1:
                first = this.elements[0]
                name = names.get(first.ref) if isinstance(first, NameRef) else first
                if name == hash_name:
                    ref = getattr(other, "ref", None)
                    found.append(_scalar(values.get(ref)) if node.op == "=" and ref is not None else None)
                    return
