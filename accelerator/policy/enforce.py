"""The api-boundary check: every target of a request must be allowed for the signing access key.

It runs before the cache, so a cached item is never served to a key that may not read it. Table key
schemas (for ``dynamodb:LeadingKeys``) are learned with one DescribeTable per table, only for keys whose
policy reads that condition, and forgotten when this node changes the table; a key map that lacks the
remembered partition key attribute makes it re-learn once (a table re-created elsewhere with another key).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from accelerator.core.context import PRINCIPAL
from accelerator.core.errors import AccessDeniedException
from accelerator.policy.conditions import UNKNOWN
from accelerator.policy.decision import Decision, PolicySet
from accelerator.policy.requests import (
    Target,
    attributes,
    key_values,
    principal_arn,
    query_partition,
    select_of,
    targets,
)

__all__ = ["Enforcer", "TableKeys", "denied"]

LEADING = "dynamodb:LeadingKeys"
Describe = Callable[[str], Awaitable[dict[str, Any]]]


class TableKeys:
    """A table's partition key attribute and each index's (None when it is a multi-attribute key)."""

    __slots__ = ("hash_name", "indexes")

    def __init__(self, hash_name: str | None, indexes: dict[str, str | None]) -> None:
        self.hash_name = hash_name
        self.indexes = indexes

    @classmethod
    def from_description(cls, table: dict[str, Any]) -> TableKeys:
        indexes = {}
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            for index in table.get(kind) or ():
                indexes[index["IndexName"]] = _hash(index["KeySchema"])
        return cls(_hash(table["KeySchema"]), indexes)

    def partition(self, index: str | None) -> str | None:
        return self.hash_name if index is None else self.indexes.get(index)


def _hash(schema: list[dict[str, Any]]) -> str | None:
    names = [e["AttributeName"] for e in schema if e.get("KeyType") == "HASH"]
    return names[0] if len(names) == 1 else None


def denied(principal: str | None, action: str, resource: str, decision: Decision) -> AccessDeniedException:
    """DynamoDB's AccessDeniedException for a refused action."""
    why = ("with an explicit deny in an identity-based policy" if decision is Decision.EXPLICIT_DENY
           else f"because no identity-based policy allows the {action} action")
    return AccessDeniedException(f"User: {principal_arn(principal)} is not authorized to perform: {action} "
                                 f"on resource: {resource} {why}")


class Enforcer:
    """Authorizes requests at the api boundary against a PolicySet."""

    def __init__(self, policies: PolicySet, describe: Describe) -> None:
        self.policies = policies
        self.describe = describe
        self._tables: dict[str, TableKeys | None] = {}

    def forget(self, table: Any) -> None:
        """Drop what is known of a table's keys (after CreateTable, DeleteTable, UpdateTable here)."""
        self._tables.pop(table, None)

    async def _learn(self, table: str | None) -> TableKeys | None:
        if table is None:
            return None
        try:
            response = await self.describe(table)
            keys: TableKeys | None = TableKeys.from_description(response["Table"])
        except Exception:  # noqa: BLE001 - no schema, no leading keys: conditions on them fail closed
            return None
        if len(self._tables) > 4096:
            self._tables.clear()
        self._tables[table] = keys
        return keys

    async def authorize(self, operation: str, request: dict[str, Any]) -> None:
        """Raise AccessDeniedException unless the signing key may do all the request asks."""
        policies = self.policies
        if not policies.configured:
            return
        principal = PRINCIPAL.get()
        policy = policies.policies.get(principal) if principal is not None else None
        for target in targets(operation, request):
            if policy is None:
                raise denied(principal, target.action, target.resource, Decision.IMPLICIT_DENY)
            applicable = policy.applicable(target.action, target.resource)
            decision = applicable.fixed
            if decision is None:
                leading: Any = None
                if LEADING in applicable.keys:
                    leading = await self._leading(target)
                decision = applicable.decide(_Context(target, leading))
            if decision is not Decision.ALLOW:
                raise denied(principal, target.action, target.resource, decision)

    async def _leading(self, target: Target) -> Any:
        """dynamodb:LeadingKeys of a target: None when it touches no item, UNKNOWN when it cannot be known."""
        if target.kind == "scan":
            return UNKNOWN  # a Scan reads every partition
        if target.keys is None and not target.query:
            return None
        for attempt in range(2):
            keys = self._tables.get(target.table) if target.table in self._tables and attempt == 0 else \
                await self._learn(target.table)
            hash_name = keys.partition(target.index) if keys is not None else None
            if hash_name is not None:
                if target.query:
                    value = query_partition(target.part, hash_name)
                    found: tuple[str, ...] | None = (value,) if value is not None else None
                else:
                    found = key_values(target.keys or (), hash_name)
                if found is not None:
                    return found
        return UNKNOWN


class _Context:
    """A request context that computes each condition key on first use."""

    __slots__ = ("target", "values")

    def __init__(self, target: Target, leading: Any) -> None:
        self.target = target
        self.values: dict[str, Any] = {} if leading is None else {LEADING: leading}

    def get(self, key: str) -> Any:
        values = self.values
        if key in values:
            return values[key]
        target = self.target
        value: Any = None
        if key == "dynamodb:Attributes":
            value = attributes(target)
        elif key == "dynamodb:Select":
            value = _one(select_of(target))
        elif key == "dynamodb:ReturnValues" and target.kind in ("put", "update", "delete"):
            value = _one(target.part.get("ReturnValues"))
        elif key == "dynamodb:ReturnConsumedCapacity":
            value = _one(target.part.get("ReturnConsumedCapacity"))
        values[key] = value
        return value


def _one(value: Any) -> tuple[str, ...] | None:
    return (value,) if isinstance(value, str) else None

