"""The api-boundary check: every target of a request must be allowed for the signing access key.

It runs before the cache, so a cached item is never served to a key that may not read it. Table key
schemas (for ``dynamodb:LeadingKeys``) are learned with one DescribeTable per table, only for keys whose
policy reads that condition. They are forgotten when this node changes the table, when the cache's
broadcast says another node did (``forget``), and when the workers' shared table epoch moved (``version``);
a key map that lacks the remembered partition key attribute also makes it re-learn, once per request.
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
_SIMPLE = frozenset(("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable", "CreateTable",
                     "DeleteTable", "UpdateTable", "DescribeTimeToLive", "UpdateTimeToLive", "ListTables",
                     "DescribeLimits", "DescribeEndpoints"))
"""Operations with one target named by TableName and IndexName alone (so a fixed Allow can be remembered)."""
Describe = Callable[[str], Awaitable[dict[str, Any]]]
Version = Callable[[str], Any]


class TableKeys:
    """A table's partition key attribute and each index's (None when it is a multi-attribute key)."""

    __slots__ = ("hash_name", "indexes", "version")

    def __init__(self, hash_name: str | None, indexes: dict[str, str | None]) -> None:
        self.hash_name = hash_name
        self.indexes = indexes
        self.version: Any = None
        """The table's schema version when it was described (see Enforcer's ``version``)."""

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


class _Learn(Exception):
    """A table's key schema is needed (missing, or stale) before the decision can be made."""

    def __init__(self, table: str) -> None:
        self.table = table


class Enforcer:
    """Authorizes requests at the api boundary against a PolicySet.

    ``authorize`` is synchronous when it can be (always, once a table's keys are known): it returns None
    when the request is allowed, raises AccessDeniedException when not, and returns an awaitable only when
    it must first learn a key schema, so a cache hit stays a call that never suspends.
    """

    def __init__(self, policies: PolicySet, describe: Describe, version: Version | None = None) -> None:
        self.policies = policies
        self.describe = describe
        self.version = version
        """A table's schema version as other processes see it (the workers' shared table epoch), compared before
        a remembered key schema is used: a worker that changed the table sends no message to the others."""
        self._tables: dict[str, TableKeys] = {}
        self._allowed: set[tuple[Any, ...]] = set()
        """(key, operation, table, index) of one-target requests allowed with no condition to evaluate."""

    def forget(self, table: Any) -> None:
        """Drop what is known of a table's keys (None: of every table), after a schema change here or elsewhere."""
        if table is None:
            self._tables.clear()
        else:
            self._tables.pop(table, None)

    def admit(self, principal: str, action: str, resource: str) -> bool:
        """An admin route's decision (no condition context): True, or AWS's AccessDeniedException, whose
        wording tells an explicit deny from a missing allow."""
        decision = self.policies.decide(principal, action, resource)
        if decision is not Decision.ALLOW:
            raise denied(principal, action, resource, decision)
        return True

    def allowed_get_item(self, table: Any) -> bool:
        """Whether the signing key's GetItem on ``table`` was allowed before with no condition to evaluate
        (the stored-reply fast path's check: anything else goes through ``authorize``)."""
        return not self.policies.configured or (PRINCIPAL.get(), "GetItem", table, None) in self._allowed

    def authorize(self, operation: str, request: dict[str, Any]) -> Awaitable[None] | None:
        """None if the signing key may do all the request asks; AccessDeniedException if not."""
        if not self.policies.configured:
            return None
        principal = PRINCIPAL.get()
        fast = None
        if operation in _SIMPLE:  # the hot path: an Allow with no condition, decided before for this table
            fast = (principal, operation, request.get("TableName"), request.get("IndexName"))
            if fast in self._allowed:
                return None
        try:
            self._check(operation, request, principal, fast, frozenset())
        except _Learn as need:
            return self._learn_and_check(operation, request, principal, need.table)
        return None

    async def _learn_and_check(self, operation: str, request: dict[str, Any], principal: str | None,
                               table: str) -> None:
        learned: set[str] = set()
        while True:
            learned.add(table)
            await self._learn(table)
            try:
                return self._check(operation, request, principal, None, frozenset(learned))
            except _Learn as need:
                table = need.table  # another table of a batch; each is learned at most once

    async def _learn(self, table: str) -> None:
        self._tables.pop(table, None)
        version = self.version(table) if self.version is not None else None  # before: a change meanwhile shows
        try:
            response = await self.describe(table)
            keys = TableKeys.from_description(response["Table"])
        except Exception:  # noqa: BLE001 - no schema, no leading keys: conditions on them fail closed
            return
        keys.version = version
        if len(self._tables) > 4096:
            self._tables.clear()
        self._tables[table] = keys

    def _check(self, operation: str, request: dict[str, Any], principal: str | None, fast: tuple[Any, ...] | None,
               learned: frozenset[str]) -> None:
        policy = self.policies.policies.get(principal) if principal is not None else None
        for target in targets(operation, request):
            if policy is None:
                raise denied(principal, target.action, target.resource, Decision.IMPLICIT_DENY)
            applicable = policy.applicable(target.action, target.resource)
            decision = applicable.fixed
            if decision is Decision.ALLOW and fast is not None:
                if len(self._allowed) > 4096:
                    self._allowed.clear()
                self._allowed.add(fast)
            elif decision is None:
                leading = self._leading(target, learned) if LEADING in applicable.keys else None
                decision = applicable.decide(_Context(target, leading, request))
            if decision is not Decision.ALLOW:
                raise denied(principal, target.action, target.resource, decision)

    def _leading(self, target: Target, learned: frozenset[str]) -> Any:
        """dynamodb:LeadingKeys of a target: None when it touches no item, UNKNOWN when it cannot be known."""
        if target.kind == "scan":
            return UNKNOWN  # a Scan reads every partition
        if target.keys is None and not target.query:
            return None
        table = target.table
        if not isinstance(table, str):
            return UNKNOWN
        keys = self._tables.get(table)
        if keys is not None and table not in learned and self.version is not None and \
                keys.version != self.version(table):
            keys = None  # another worker changed (or flushed) the table since it was described
        if keys is None:
            if table in learned:
                return UNKNOWN  # DescribeTable failed: the table does not exist (or the store is down)
            raise _Learn(table)
        hash_name = keys.partition(target.index)
        if hash_name is None and target.index in keys.indexes:
            return UNKNOWN  # a multi-attribute partition key: no one value to compare
        found: tuple[str, ...] | None = None
        if hash_name is not None:
            if target.query:
                value = query_partition(target.part, hash_name)
                found = (value,) if value is not None else None
            else:
                found = key_values(target.keys or (), hash_name)
        if found is None and table not in learned:
            raise _Learn(table)  # the key names another attribute: the table may have been re-created
        return UNKNOWN if found is None else found


class _Context:
    """A request context that computes each condition key on first use."""

    __slots__ = ("target", "request", "values")

    def __init__(self, target: Target, leading: Any, request: dict[str, Any]) -> None:
        self.target = target
        self.request = request
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
        elif key == "dynamodb:ReturnConsumedCapacity":  # a batch's or transaction's is the request's
            value = _one(self.request.get("ReturnConsumedCapacity"))
        values[key] = value
        return value


def _one(value: Any) -> tuple[str, ...] | None:
    return (value,) if isinstance(value, str) else None

